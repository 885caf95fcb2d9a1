/* SPDX-License-Identifier: MIT */
/*
 * proto.h - bnnaccd wire protocol (docs/protocol.md): newline-delimited JSON.
 * Parsing and validation only; no I/O, no card access (unit-tested alone).
 */
#ifndef BNNACCD_PROTO_H
#define BNNACCD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define PROTO_VERSION		2		/* the newest version spoken */
#define PROTO_VERSION_MIN	1
#define PROTO_MAX_LINE		(1u << 20)	/* bytes per request line */
#define PROTO_MAX_INPUTS	4096		/* vectors per infer request */
#define PROTO_MAX_DIM		4096		/* values per vector */
#define PROTO_NAME_LEN		32
#define PROTO_PATH_LEN		4096
#define PROTO_DEFAULT_DEADLINE_MS 30000
#define PROTO_MAX_DEADLINE_MS	3600000

enum proto_op {
	OP_HELLO, OP_STATUS, OP_CARDS, OP_MODELS, OP_LOAD, OP_UNLOAD, OP_INFER,
	OP_CALIBRATE, OP_RESET, OP_STATS, OP_METRICS, OP_CHECK, OP__COUNT,
};

enum proto_err {
	E_OK = 0, E_BAD_JSON, E_TOO_LARGE, E_BAD_REQUEST, E_UNKNOWN_OP,
	E_VERSION, E_HANDSHAKE, E_PERM, E_BUSY, E_DEADLINE, E_NO_MODEL,
	E_BAD_MODEL, E_CARD, E_NO_CARD, E_SHUTDOWN, E_INTERNAL, E_STORAGE,
	E__COUNT,
};

/* what an infer reply carries */
#define OUT_MEAN	0x1u
#define OUT_UNC		0x2u
#define OUT_PER_SAMPLE	0x4u

/**
 * struct proto_req - one validated request
 * @id: the request's "id" (any JSON, borrowed reference kept), or NULL
 * @inputs: infer: n * dim floats (malloc'd, owned)
 * @data: load: decoded model bytes (malloc'd, owned) or NULL when @path
 * @card: -1 for all/any
 */
struct proto_req {
	enum proto_op op;
	json_t *id;
	int version;
	char name[PROTO_NAME_LEN];
	char path[PROTO_PATH_LEN];
	unsigned char *data;
	size_t data_len;
	float *inputs;
	unsigned n, dim, samples, outputs, m;
	int64_t deadline_ms;
	int card, force;
	int fd;			/* load: the model comes as a passed descriptor */
	int add;		/* load: beside the resident models (else it replaces them) */
	double precision;	/* infer: sample until this converged (0: all M) */
	double abstain;		/* infer: u_e above this abstains (0: never) */
	int rpc;		/* the line was JSON-RPC 2.0 (version 2 framing) */
};

const char *proto_op_name(enum proto_op op);
const char *proto_err_name(enum proto_err e);

/*
 * Parse and validate one request line (without its newline). Returns E_OK
 * with @r filled (free with proto_req_free), or an error code with @msg
 * set; r->id is set whenever the line had an id so the error can echo it.
 */
enum proto_err proto_parse(const char *line, size_t len, struct proto_req *r,
			   char *msg, size_t msglen);
void proto_req_free(struct proto_req *r);

/* {"ok":false,"error":{"code":..,"message":..},"id":..}; new reference */
json_t *proto_error(json_t *id, enum proto_err e, const char *msg);
/* {"ok":true,"id":..}; new reference */
json_t *proto_ok(json_t *id);
/*
 * Version 2 (JSON-RPC 2.0) framing of a version 1 reply @j (stolen): ok
 * replies become {"jsonrpc":"2.0","id":..,"result":{..}}, errors
 * {"jsonrpc":"2.0","id":..,"error":{"code":N,"message":..,"data":{"code":
 * NAME,..}}} (N from proto_rpc_code()). Returns NULL (and frees @j) for
 * the reply to a notification (a request without "id"): none is sent.
 */
json_t *proto_to_rpc(json_t *j);
/* The JSON-RPC error code of @e: -32700, -32600..-32603, or -32001.. */
int proto_rpc_code(enum proto_err e);
/* A server-to-client notification {"jsonrpc":"2.0","method":..,"params":..} */
json_t *proto_rpc_notification(const char *method, json_t *params);
/* Serialise @j compactly plus '\n'; malloc'd string or NULL. Steals @j. */
char *proto_dump(json_t *j, size_t *len);

/* Decode RFC 4648 base64 (padding optional, no whitespace). Returns the
 * decoded length or -1 on malformed input. @out needs (len/4+1)*3 bytes. */
long proto_b64_decode(const char *in, size_t len, unsigned char *out);

/* Model names: 1..31 of [A-Za-z0-9_.-], not starting with '.'. */
int proto_name_ok(const char *s);

#endif
