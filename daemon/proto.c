// SPDX-License-Identifier: MIT
/* proto.c - bnnaccd request parsing and validation (docs/protocol.md). */
#include "proto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[OP__COUNT] = {
	[OP_HELLO] = "hello", [OP_STATUS] = "status", [OP_CARDS] = "cards",
	[OP_MODELS] = "models", [OP_LOAD] = "load", [OP_UNLOAD] = "unload",
	[OP_INFER] = "infer", [OP_CALIBRATE] = "calibrate",
	[OP_RESET] = "reset", [OP_STATS] = "stats", [OP_METRICS] = "metrics",
	[OP_CHECK] = "check",
};

static const char *const err_names[E__COUNT] = {
	[E_OK] = "ok", [E_BAD_JSON] = "bad_json", [E_TOO_LARGE] = "too_large",
	[E_BAD_REQUEST] = "bad_request", [E_UNKNOWN_OP] = "unknown_op",
	[E_VERSION] = "version", [E_HANDSHAKE] = "handshake",
	[E_PERM] = "permission", [E_BUSY] = "busy", [E_DEADLINE] = "deadline",
	[E_NO_MODEL] = "no_model", [E_BAD_MODEL] = "bad_model",
	[E_CARD] = "card", [E_NO_CARD] = "no_card", [E_SHUTDOWN] = "shutdown",
	[E_INTERNAL] = "internal", [E_STORAGE] = "storage",
};

const char *proto_op_name(enum proto_op op)
{
	return (unsigned)op < OP__COUNT ? op_names[op] : "?";
}

const char *proto_err_name(enum proto_err e)
{
	return (unsigned)e < E__COUNT ? err_names[e] : "?";
}

int proto_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= PROTO_NAME_LEN || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long proto_b64_decode(const char *in, size_t len, unsigned char *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64_val((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

static enum proto_err fail(char *msg, size_t msglen, enum proto_err e,
			   const char *fmt, const char *arg)
{
	snprintf(msg, msglen, fmt, arg);
	return e;
}

/* Optional unsigned integer field in [lo, hi]; absent keeps *v. */
static enum proto_err get_uint(json_t *o, const char *key, int64_t lo,
			       int64_t hi, int64_t *v, char *msg, size_t msglen)
{
	json_t *j = json_object_get(o, key);

	if (!j)
		return E_OK;
	if (!json_is_integer(j) || json_integer_value(j) < lo ||
	    json_integer_value(j) > hi) {
		snprintf(msg, msglen, "\"%s\" must be an integer in [%lld, %lld]",
			 key, (long long)lo, (long long)hi);
		return E_BAD_REQUEST;
	}
	*v = json_integer_value(j);
	return E_OK;
}

/* Optional number field in [lo, hi]; absent leaves *v 0 (0 < lo: "not asked"). */
static enum proto_err get_real(json_t *o, const char *key, double lo, double hi,
			       double *v, char *msg, size_t msglen)
{
	json_t *j = json_object_get(o, key);

	*v = 0;
	if (!j)
		return E_OK;
	if (!json_is_number(j) || !(json_number_value(j) >= lo) ||
	    !(json_number_value(j) <= hi)) {
		snprintf(msg, msglen, "\"%s\" must be a number in [%g, %g]", key, lo, hi);
		return E_BAD_REQUEST;
	}
	*v = json_number_value(j);
	return E_OK;
}

static enum proto_err get_name(json_t *o, char *name, int required, char *msg,
			       size_t msglen)
{
	json_t *j = json_object_get(o, "name");

	if (!j) {
		if (required)
			return fail(msg, msglen, E_BAD_REQUEST, "missing \"%s\"", "name");
		return E_OK;
	}
	if (!json_is_string(j) || !proto_name_ok(json_string_value(j)))
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"name\" must be 1-31 characters of [A-Za-z0-9_.-]");
	strcpy(name, json_string_value(j));
	return E_OK;
}

static enum proto_err parse_inputs(json_t *o, struct proto_req *r, char *msg,
				   size_t msglen)
{
	json_t *in = json_object_get(o, "inputs"), *v, *x;
	size_t i, k, n, dim;

	if (!json_is_array(in) || json_array_size(in) == 0)
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"inputs\" must be a non-empty array of vectors");
	n = json_array_size(in);
	if (n > PROTO_MAX_INPUTS)
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "too many inputs (at most 4096 per request)");
	v = json_array_get(in, 0);
	dim = json_is_array(v) ? json_array_size(v) : 0;
	if (dim == 0 || dim > PROTO_MAX_DIM)
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "each input must be an array of 1..4096 numbers");
	/* shapes first: a short line of empty vectors must not cost n * dim */
	json_array_foreach(in, i, v)
		if (!json_is_array(v) || json_array_size(v) != dim)
			return fail(msg, msglen, E_BAD_REQUEST, "%s",
				    "all inputs must have the same length");
	r->inputs = malloc(n * dim * sizeof(float));
	if (!r->inputs)
		return fail(msg, msglen, E_INTERNAL, "%s", "out of memory");
	json_array_foreach(in, i, v) {
		json_array_foreach(v, k, x) {
			double d;

			if (!json_is_number(x))
				return fail(msg, msglen, E_BAD_REQUEST, "%s",
					    "inputs must be numbers");
			d = json_number_value(x);
			if (!isfinite(d) || fabs(d) > 1e30) {
				snprintf(msg, msglen,
					 "inputs[%zu][%zu] = %g: out of range (|x| at most 1e30)",
					 i, k, d);
				return E_BAD_REQUEST;
			}
			r->inputs[i * dim + k] = (float)d;
		}
	}
	r->n = (unsigned)n;
	r->dim = (unsigned)dim;
	return E_OK;
}

static enum proto_err parse_outputs(json_t *o, struct proto_req *r, char *msg,
				    size_t msglen)
{
	json_t *a = json_object_get(o, "outputs"), *v;
	size_t i;

	r->outputs = OUT_MEAN | OUT_UNC;
	if (!a)
		return E_OK;
	if (!json_is_array(a))
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"outputs\" must be an array of strings");
	r->outputs = 0;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);

		if (!s)
			return fail(msg, msglen, E_BAD_REQUEST, "%s",
				    "\"outputs\" must be an array of strings");
		if (!strcmp(s, "mean"))
			r->outputs |= OUT_MEAN;
		else if (!strcmp(s, "uncertainty"))
			r->outputs |= OUT_UNC;
		else if (!strcmp(s, "per_sample"))
			r->outputs |= OUT_PER_SAMPLE;
		else
			return fail(msg, msglen, E_BAD_REQUEST,
				    "unknown output \"%s\"", s);
	}
	return E_OK;
}

static enum proto_err parse_infer(json_t *o, struct proto_req *r, char *msg,
				  size_t msglen)
{
	int64_t v;
	enum proto_err e;

	if ((e = get_name(o, r->name, 0, msg, msglen)) ||
	    (e = parse_inputs(o, r, msg, msglen)) ||
	    (e = parse_outputs(o, r, msg, msglen)))
		return e;
	v = 0;
	if ((e = get_uint(o, "samples", 1, 1024, &v, msg, msglen)))
		return e;
	r->samples = (unsigned)v;
	v = PROTO_DEFAULT_DEADLINE_MS;
	if ((e = get_uint(o, "deadline_ms", 1, PROTO_MAX_DEADLINE_MS, &v, msg,
			  msglen)))
		return e;
	r->deadline_ms = v;
	if ((e = get_real(o, "precision", 1e-4, 0.5, &r->precision, msg, msglen)) ||
	    (e = get_real(o, "abstain", 1e-6, 1e3, &r->abstain, msg, msglen)))
		return e;
	return E_OK;
}

static enum proto_err parse_load(json_t *o, struct proto_req *r, char *msg,
				 size_t msglen)
{
	json_t *p = json_object_get(o, "path"), *d = json_object_get(o, "data");
	json_t *fd = json_object_get(o, "fd");
	int64_t m = 0;
	enum proto_err e;
	long got;

	if ((e = get_name(o, r->name, 1, msg, msglen)) ||
	    (e = get_uint(o, "m", 0, 1024, &m, msg, msglen)))
		return e;
	r->m = (unsigned)m;
	if (json_object_get(o, "add") && !json_is_boolean(json_object_get(o, "add")))
		return fail(msg, msglen, E_BAD_REQUEST, "%s", "\"add\" must be true or false");
	r->add = json_is_true(json_object_get(o, "add"));
	if (fd && !json_is_true(fd))
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"fd\" must be true (the model comes as the descriptor passed "
			    "with SCM_RIGHTS on this request line)");
	if (!!p + !!d + !!fd != 1)
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "give exactly one of \"path\", \"data\" and \"fd\"");
	if (fd) {
		r->fd = 1;
		return E_OK;
	}
	if (p) {
		const char *s = json_string_value(p);

		if (!s || s[0] != '/' || strlen(s) >= PROTO_PATH_LEN)
			return fail(msg, msglen, E_BAD_REQUEST, "%s",
				    "\"path\" must be an absolute path");
		strcpy(r->path, s);
		return E_OK;
	}
	if (!json_is_string(d) || json_string_length(d) == 0)
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"data\" must be a base64 string");
	r->data = malloc(json_string_length(d) / 4 * 3 + 3);
	if (!r->data)
		return fail(msg, msglen, E_INTERNAL, "%s", "out of memory");
	got = proto_b64_decode(json_string_value(d), json_string_length(d),
			       r->data);
	if (got <= 0)
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"data\" is not valid base64");
	r->data_len = (size_t)got;
	return E_OK;
}

static enum proto_err parse_op(json_t *o, struct proto_req *r, char *msg,
			       size_t msglen)
{
	int64_t v;
	enum proto_err e;

	switch (r->op) {
	case OP_HELLO:
		v = -1;
		if (!json_is_integer(json_object_get(o, "version")))
			return fail(msg, msglen, E_BAD_REQUEST, "%s",
				    "hello needs an integer \"version\"");
		v = json_integer_value(json_object_get(o, "version"));
		if (v < PROTO_VERSION_MIN || v > PROTO_VERSION)
			return fail(msg, msglen, E_VERSION, "%s",
				    "protocol version not supported (server speaks 1 and 2)");
		r->version = (int)v;
		return E_OK;
	case OP_INFER:
		return parse_infer(o, r, msg, msglen);
	case OP_LOAD:
		return parse_load(o, r, msg, msglen);
	case OP_UNLOAD:
		return get_name(o, r->name, 1, msg, msglen);
	case OP_CALIBRATE:
	case OP_RESET:
	case OP_CHECK:
		v = -1;
		if ((e = get_uint(o, "card", 0, 1023, &v, msg, msglen)))
			return e;
		r->card = (int)v;
		if (r->op == OP_RESET && v < 0)
			return fail(msg, msglen, E_BAD_REQUEST, "%s",
				    "reset needs \"card\"");
		return E_OK;
	default:
		return E_OK;
	}
}

/*
 * The id of a JSON-RPC notification (a request without "id"): the reply
 * made for it is recognised by proto_to_rpc() and dropped.
 */
#define RPC_NOTIFICATION "_bnnaccd_notification"

/*
 * A JSON-RPC 2.0 request: {"jsonrpc":"2.0","method":M,"params":{..},"id":I}
 * becomes the version 1 object {"op":M,..params}. Params by name only.
 */
static enum proto_err rpc_flatten(json_t **o, struct proto_req *r, char *msg,
				  size_t msglen)
{
	json_t *in = *o, *flat, *params = json_object_get(in, "params"), *id;
	const char *k;
	json_t *v;

	r->rpc = 1;
	id = json_object_get(in, "id");
	if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
		r->id = json_null();
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"id\" must be a string, an integer or null");
	}
	r->id = id ? json_incref(id) : json_pack("{s:b}", RPC_NOTIFICATION, 1);
	if (!json_is_string(json_object_get(in, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(in, "jsonrpc")), "2.0"))
		return fail(msg, msglen, E_BAD_REQUEST, "%s", "\"jsonrpc\" must be \"2.0\"");
	if (!json_is_string(json_object_get(in, "method")))
		return fail(msg, msglen, E_BAD_REQUEST, "%s", "missing string \"method\"");
	if (params && !json_is_object(params))
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "\"params\" must be an object (parameters by name)");
	flat = json_object();
	if (!flat)
		return fail(msg, msglen, E_INTERNAL, "%s", "out of memory");
	json_object_foreach(params, k, v)
		if (strcmp(k, "op") && strcmp(k, "id"))
			json_object_set(flat, k, v);
	json_object_set(flat, "op", json_object_get(in, "method"));
	json_decref(in);
	*o = flat;
	return E_OK;
}

static const int rpc_codes[E__COUNT] = {
	[E_BAD_JSON] = -32700, [E_BAD_REQUEST] = -32602, [E_UNKNOWN_OP] = -32601,
	[E_INTERNAL] = -32603, [E_TOO_LARGE] = -32001, [E_VERSION] = -32002,
	[E_HANDSHAKE] = -32003, [E_PERM] = -32004, [E_BUSY] = -32005,
	[E_DEADLINE] = -32006, [E_NO_MODEL] = -32007, [E_BAD_MODEL] = -32008,
	[E_CARD] = -32009, [E_NO_CARD] = -32010, [E_SHUTDOWN] = -32011,
	[E_STORAGE] = -32012,
};

int proto_rpc_code(enum proto_err e)
{
	return e > E_OK && e < E__COUNT ? rpc_codes[e] : -32603;
}

json_t *proto_to_rpc(json_t *j)
{
	json_t *id = json_object_get(j, "id"), *out, *body, *err, *v;
	const char *k, *code;
	unsigned i;
	int ok = json_is_true(json_object_get(j, "ok"));

	if (json_is_object(id) && json_object_get(id, RPC_NOTIFICATION)) {
		json_decref(j);
		return NULL;
	}
	out = json_pack("{s:s,s:O}", "jsonrpc", "2.0", "id", id ? id : json_null());
	body = json_object();
	json_object_foreach(j, k, v)
		if (strcmp(k, "ok") && strcmp(k, "id") && strcmp(k, "error"))
			json_object_set(body, k, v);
	if (ok) {
		json_object_set_new(out, "result", body);
		json_decref(j);
		return out;
	}
	err = json_object_get(j, "error");
	code = json_string_value(json_object_get(err, "code"));
	json_object_set(body, "code", json_object_get(err, "code"));
	for (i = 1; i < E__COUNT && code && strcmp(code, err_names[i]); i++)
		;
	json_object_set_new(out, "error", json_pack("{s:i,s:O,s:o}", "code",
		proto_rpc_code(i < E__COUNT ? (enum proto_err)i : E_INTERNAL),
		"message", json_object_get(err, "message"), "data", body));
	json_decref(j);
	return out;
}

json_t *proto_rpc_notification(const char *method, json_t *params)
{
	return json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

enum proto_err proto_parse(const char *line, size_t len, struct proto_req *r,
			   char *msg, size_t msglen)
{
	json_error_t je;
	json_t *o, *op;
	enum proto_err e = E_UNKNOWN_OP;
	unsigned i;

	memset(r, 0, sizeof(*r));
	r->card = -1;
	msg[0] = 0;
	if (len > PROTO_MAX_LINE)
		return fail(msg, msglen, E_TOO_LARGE, "%s",
			    "request line over 1 MiB");
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return fail(msg, msglen, E_BAD_JSON, "malformed JSON: %s", je.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return fail(msg, msglen, E_BAD_REQUEST, "%s",
			    "a request must be a JSON object");
	}
	if (json_object_get(o, "jsonrpc")) {
		e = rpc_flatten(&o, r, msg, msglen);
		if (e != E_OK)
			goto out;
		e = E_UNKNOWN_OP;	/* until the method is found */
	} else {
		r->id = json_incref(json_object_get(o, "id"));
	}
	op = json_object_get(o, "op");
	if (!json_is_string(op)) {
		e = fail(msg, msglen, E_BAD_REQUEST, "%s",
			 "missing string \"op\"");
		goto out;
	}
	for (i = 0; i < OP__COUNT; i++) {
		if (!strcmp(json_string_value(op), op_names[i])) {
			r->op = (enum proto_op)i;
			e = parse_op(o, r, msg, msglen);
			goto out;
		}
	}
	snprintf(msg, msglen, "unknown op \"%.64s\"", json_string_value(op));
out:
	json_decref(o);
	if (e != E_OK) {
		free(r->inputs);
		free(r->data);
		r->inputs = NULL;
		r->data = NULL;
	}
	return e;
}

void proto_req_free(struct proto_req *r)
{
	json_decref(r->id);
	free(r->inputs);
	free(r->data);
	r->id = NULL;
	r->inputs = NULL;
	r->data = NULL;
}

json_t *proto_ok(json_t *id)
{
	json_t *j = json_pack("{s:b}", "ok", 1);

	if (j && id)
		json_object_set(j, "id", id);
	return j;
}

/* Length of the valid UTF-8 sequence (RFC 3629) starting at @p, or 0 */
static size_t utf8_len(const unsigned char *p)
{
	unsigned int c = p[0], v, n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	v = c & (0x7fu >> n);	/* the lead byte's payload bits */
	for (i = 1; i < n; i++) {	/* stops at the NUL too */
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n;
}

/*
 * @msg as a JSON string. Messages quote request text cut to a length
 * ("%.64s", or the message buffer's size), which can cut a UTF-8 sequence;
 * jansson rejects invalid UTF-8, and the reply (json_pack) would then be
 * NULL: the request would go unanswered. Every byte that is not part of a
 * valid sequence becomes '?'.
 */
static json_t *msg_string(const char *msg)
{
	json_t *s = json_string(msg);
	unsigned char *c;
	size_t i, k;

	if (s)
		return s;
	c = (unsigned char *)strdup(msg);
	if (!c)
		return NULL;
	for (i = 0; c[i]; i += k) {
		k = utf8_len(c + i);
		if (!k) {
			c[i] = '?';
			k = 1;
		}
	}
	s = json_string((const char *)c);
	free(c);
	return s;
}

json_t *proto_error(json_t *id, enum proto_err e, const char *msg)
{
	json_t *j = json_pack("{s:b,s:{s:s,s:o}}", "ok", 0, "error", "code",
			      proto_err_name(e), "message",
			      msg_string(msg ? msg : ""));

	if (j && id)
		json_object_set(j, "id", id);
	return j;
}

char *proto_dump(json_t *j, size_t *len)
{
	char *s;
	size_t n;

	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(j);
	if (!s)
		return NULL;
	n = strlen(s);
	s = realloc(s, n + 2);
	if (!s)
		return NULL;
	s[n] = '\n';
	s[n + 1] = 0;
	if (len)
		*len = n + 1;
	return s;
}
