// SPDX-License-Identifier: MIT
/*
 * fuzz_proto - libFuzzer target of bnnaccd's request parser and validator
 * (daemon/proto.c, docs/protocol.md) and of the replies the daemon builds
 * from its result.
 *
 * The input is one request line as the daemon hands it to proto_parse()
 * (any bytes: the daemon cuts lines at '\n' but does not look inside).
 * Properties checked besides "no crash, no leak, no undefined behaviour"
 * (a failed one abort()s, which libFuzzer reports as a crash):
 *  - the result code is a known one and the message is NUL-terminated;
 *    an error has a message and owns no buffer;
 *  - an accepted request satisfies every rule of docs/protocol.md for its
 *    op (name syntax, exactly one of path/data, ranges of m, samples,
 *    deadline_ms, card, inputs: 1..4096 vectors of one length 1..4096,
 *    finite values);
 *  - the reply the daemon would send (proto_error(), with "version" added
 *    for a version error, or proto_ok()) exists — the protocol promises a
 *    reply to every request — and serialises to one line of JSON that parses
 *    back to {"ok": false, "error": {"code": <the code's name>, "message":
 *    <the message>}} or {"ok": true}, echoing the request's id;
 *  - "data" of a load is handed to bnnacc_model_load_mem() as the daemon
 *    does (the loader has its own target, fuzz_model);
 *  - on the raw bytes: proto_b64_decode() stays within the documented
 *    output size, proto_name_ok() accepts only what the protocol allows, and
 *    proto_error() makes a reply of any text (bytes that are not UTF-8
 *    replaced by '?').
 */
#include "proto.h"

#include <bnnacc/bnnacc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_proto: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

/* Same compact form as proto_dump(), for comparing ids */
static char *dump_id(const json_t *id)
{
	return json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
}

/*
 * The reply's message is @msg; where @msg is not valid UTF-8 (text of the
 * request cut inside a sequence), it has '?' for the bytes that are not.
 */
static void check_message(const char *got, const char *msg)
{
	json_t *valid = json_string(msg);
	size_t i;

	CHECK(got);
	if (valid) {
		CHECK(!strcmp(got, msg));
		json_decref(valid);
		return;
	}
	CHECK(strlen(got) == strlen(msg));
	for (i = 0; got[i]; i++)
		CHECK(got[i] == msg[i] || (got[i] == '?' && (unsigned char)msg[i] >= 0x80));
}

static void check_reply(json_t *reply, json_t *id, enum proto_err e,
			const char *msg)
{
	json_error_t je;
	json_t *back, *err;
	size_t len;
	char *s, *a, *b;

	CHECK(reply);	/* every request gets a reply */
	s = proto_dump(reply, &len);
	CHECK(s);
	CHECK(len == strlen(s) && len >= 2 && s[len - 1] == '\n');
	CHECK(memchr(s, '\n', len - 1) == NULL);	/* one line */
	back = json_loadb(s, len - 1, JSON_REJECT_DUPLICATES, &je);
	CHECK(json_is_object(back));
	CHECK(json_is_boolean(json_object_get(back, "ok")));
	CHECK(json_boolean_value(json_object_get(back, "ok")) == (e == E_OK));
	if (e != E_OK) {
		err = json_object_get(back, "error");
		CHECK(json_is_object(err));
		CHECK(json_is_string(json_object_get(err, "code")));
		CHECK(!strcmp(json_string_value(json_object_get(err, "code")),
			      proto_err_name(e)));
		CHECK(json_is_string(json_object_get(err, "message")));
		check_message(json_string_value(json_object_get(err, "message")), msg);
		if (e == E_VERSION)
			CHECK(json_integer_value(json_object_get(back, "version")) ==
			      PROTO_VERSION);
	}
	if (id) {
		CHECK(json_object_get(back, "id"));
		a = dump_id(id);
		b = dump_id(json_object_get(back, "id"));
		CHECK(a && b && !strcmp(a, b));
		free(a);
		free(b);
	} else {
		CHECK(!json_object_get(back, "id"));
	}
	json_decref(back);
	free(s);
}

static void check_inputs(const struct proto_req *r)
{
	size_t i;

	CHECK(r->n >= 1 && r->n <= PROTO_MAX_INPUTS);
	CHECK(r->dim >= 1 && r->dim <= PROTO_MAX_DIM);
	CHECK(r->inputs);
	for (i = 0; i < (size_t)r->n * r->dim; i++)
		CHECK(isfinite(r->inputs[i]) && fabsf(r->inputs[i]) <= 1e30f);
}

static void check_request(const struct proto_req *r, size_t size)
{
	struct bnnacc_model *m;
	char err[256];

	CHECK((unsigned)r->op < OP__COUNT);
	CHECK(memchr(r->name, 0, sizeof(r->name)));
	CHECK(memchr(r->path, 0, sizeof(r->path)));
	if (r->op != OP_INFER)
		CHECK(!r->inputs);
	if (r->op != OP_LOAD)
		CHECK(!r->data && !r->path[0]);
	switch (r->op) {
	case OP_HELLO:
		CHECK(r->version >= PROTO_VERSION_MIN && r->version <= PROTO_VERSION);
		break;
	case OP_INFER:
		check_inputs(r);
		CHECK(!r->name[0] || proto_name_ok(r->name));
		CHECK(r->samples <= 1024);
		CHECK(r->outputs <= (OUT_MEAN | OUT_UNC | OUT_PER_SAMPLE));	/* [] is a subset */
		CHECK(r->deadline_ms >= 1 && r->deadline_ms <= PROTO_MAX_DEADLINE_MS);
		break;
	case OP_LOAD:
		CHECK(proto_name_ok(r->name));
		CHECK(r->m <= 1024);
		CHECK(!r->data != !r->path[0]);
		if (r->path[0]) {
			CHECK(r->path[0] == '/');
			break;
		}
		CHECK(r->data_len >= 1 && r->data_len <= size);
		if (!bnnacc_model_load_mem(&m, r->data, r->data_len, err, sizeof(err)))
			bnnacc_model_free(m);
		break;
	case OP_UNLOAD:
		CHECK(proto_name_ok(r->name));
		break;
	case OP_RESET:
		CHECK(r->card >= 0 && r->card <= 1023);
		break;
	case OP_CALIBRATE:
	case OP_CHECK:
		CHECK(r->card >= -1 && r->card <= 1023);
		break;
	default:
		CHECK(r->card == -1);
		break;
	}
}

/* The raw helpers the parser builds on, on the same bytes */
static void check_helpers(const uint8_t *data, size_t size)
{
	size_t room = (size / 4 + 1) * 3;
	unsigned char *out = malloc(room);
	char *s = malloc(size + 1);
	long n;

	CHECK(out && s);
	n = proto_b64_decode((const char *)data, size, out);
	CHECK(n >= -1 && (n < 0 || (size_t)n <= size / 4 * 3 + 2));
	memcpy(s, data, size);
	s[size] = 0;
	/* any text (up to a NUL) makes an error reply: invalid UTF-8 as '?' */
	check_reply(proto_error(NULL, E_INTERNAL, s), NULL, E_INTERNAL, s);
	if (proto_name_ok(s)) {
		size_t i, len = strlen(s);

		CHECK(len >= 1 && len < PROTO_NAME_LEN && s[0] != '.');
		for (i = 0; i < len; i++)
			CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789_.-", s[i]));
	}
	free(out);
	free(s);
}

/*
 * The version 2 framing of the reply @j (stolen) to a JSON-RPC line: none
 * for a notification (its id is the parser's marker object), else exactly
 * one of result and error, the error's code the JSON-RPC code of @e and
 * its data.code the version 1 name; one line.
 */
static void check_rpc(json_t *j, const struct proto_req *r, enum proto_err e)
{
	json_t *rr = proto_to_rpc(j), *err;
	size_t len;
	char *s;

	if (!rr) {
		CHECK(json_is_object(r->id));
		return;
	}
	CHECK(!strcmp(json_string_value(json_object_get(rr, "jsonrpc")), "2.0"));
	CHECK(json_object_get(rr, "id"));
	err = json_object_get(rr, "error");
	CHECK(!json_object_get(rr, "result") == !!err);
	CHECK(!err == (e == E_OK));
	if (err) {
		CHECK(json_integer_value(json_object_get(err, "code")) == proto_rpc_code(e));
		CHECK(!strcmp(json_string_value(json_object_get(json_object_get(err, "data"),
								"code")), proto_err_name(e)));
	}
	s = proto_dump(rr, &len);
	CHECK(s && memchr(s, '\n', len - 1) == NULL);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_req r;
	char msg[256];	/* as the daemon's handle_line() */
	enum proto_err e;
	json_t *reply;

	memset(msg, 0x5a, sizeof(msg));
	e = proto_parse((const char *)data, size, &r, msg, sizeof(msg));
	CHECK((unsigned)e < E__COUNT);
	CHECK(memchr(msg, 0, sizeof(msg)));
	if (e != E_OK) {
		CHECK(msg[0]);
		CHECK(!r.inputs && !r.data);
		reply = proto_error(r.id, e, msg);
		if (e == E_VERSION)
			json_object_set_new(reply, "version", json_integer(PROTO_VERSION));
	} else {
		check_request(&r, size);
		reply = proto_ok(r.id);
	}
	if (r.rpc)
		check_rpc(json_deep_copy(reply), &r, e);
	check_reply(reply, r.id, e, msg);
	proto_req_free(&r);
	CHECK(!r.id && !r.inputs && !r.data);
	check_helpers(data, size);
	return 0;
}
