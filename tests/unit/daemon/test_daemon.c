// SPDX-License-Identifier: MIT
/*
 * Check tests of bnnaccd's protocol parser (every error path) and of its
 * fair, bounded scheduler (daemon/proto.c, daemon/dsched.c).
 */
#include <check.h>

#include "test_ctl.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dsched.h"
#include "proto.h"

static struct proto_req r;
static char msg[256];

static enum proto_err parse(const char *s)
{
	proto_req_free(&r);
	return proto_parse(s, strlen(s), &r, msg, sizeof(msg));
}

static void teardown(void)
{
	proto_req_free(&r);
}

START_TEST(t_hello)
{
	ck_assert_int_eq(parse("{\"op\":\"hello\",\"version\":1}"), E_OK);
	ck_assert_int_eq(r.op, OP_HELLO);
	ck_assert_int_eq(parse("{\"op\":\"hello\",\"version\":2}"), E_OK);
	ck_assert_int_eq(r.version, 2);
	proto_req_free(&r);
	ck_assert_int_eq(parse("{\"op\":\"hello\",\"version\":3}"), E_VERSION);
	ck_assert_int_eq(parse("{\"op\":\"hello\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"hello\",\"version\":\"1\"}"), E_BAD_REQUEST);
}
END_TEST

START_TEST(t_malformed)
{
	static const char *const bad_json[] = {
		"", "{", "{\"op\":}", "nul", "{\"op\":\"status\",\"op\":\"cards\"}",
		"{\"a\":1}x",
	};
	unsigned i;

	for (i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++)
		ck_assert_msg(parse(bad_json[i]) == E_BAD_JSON, "%s", bad_json[i]);
	ck_assert_int_eq(parse("[1,2]"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("\"status\""), E_BAD_JSON);	/* not an object or array */
	ck_assert_int_eq(parse("{}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":3}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"frob\",\"id\":7}"), E_UNKNOWN_OP);
	ck_assert_ptr_nonnull(r.id);	/* the id is kept to be echoed */
	ck_assert_int_eq(json_integer_value(r.id), 7);
	ck_assert_ptr_nonnull(strstr(msg, "frob"));
}
END_TEST

START_TEST(t_too_large)
{
	size_t n = PROTO_MAX_LINE + 10;
	char *s = malloc(n + 1);

	memset(s, ' ', n);
	s[n] = 0;
	memcpy(s, "{\"op\":\"status\"}", 15);
	ck_assert_int_eq(proto_parse(s, n, &r, msg, sizeof(msg)), E_TOO_LARGE);
	free(s);
}
END_TEST

START_TEST(t_simple_ops)
{
	static const char *const ops[] = { "status", "cards", "models", "stats", "metrics" };
	char buf[64];
	unsigned i;

	for (i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":\"x\"}", ops[i]);
		ck_assert_int_eq(parse(buf), E_OK);
		ck_assert_str_eq(proto_op_name(r.op), ops[i]);
		ck_assert_str_eq(json_string_value(r.id), "x");
	}
}
END_TEST

START_TEST(t_infer_ok)
{
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1,2.5],[-3,4e-1]],"
			       "\"samples\":10,\"outputs\":[\"per_sample\",\"mean\"],"
			       "\"deadline_ms\":500,\"name\":\"toy\"}"), E_OK);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.dim, 2);
	ck_assert(r.inputs[1] == 2.5f && r.inputs[2] == -3.0f);
	ck_assert_uint_eq(r.samples, 10);
	ck_assert_uint_eq(r.outputs, OUT_PER_SAMPLE | OUT_MEAN);
	ck_assert_int_eq(r.deadline_ms, 500);
	ck_assert_str_eq(r.name, "toy");
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]]}"), E_OK);
	ck_assert_uint_eq(r.outputs, OUT_MEAN | OUT_UNC);
	ck_assert_int_eq(r.deadline_ms, PROTO_DEFAULT_DEADLINE_MS);
	ck_assert_uint_eq(r.samples, 0);
}
END_TEST

START_TEST(t_infer_errors)
{
	static const char *const bad[] = {
		"{\"op\":\"infer\"}",
		"{\"op\":\"infer\",\"inputs\":[]}",
		"{\"op\":\"infer\",\"inputs\":{}}",
		"{\"op\":\"infer\",\"inputs\":[[]]}",
		"{\"op\":\"infer\",\"inputs\":[1,2]}",
		"{\"op\":\"infer\",\"inputs\":[[1,2],[3]]}",
		"{\"op\":\"infer\",\"inputs\":[[1,2],3]}",
		"{\"op\":\"infer\",\"inputs\":[[1,\"a\"]]}",
		"{\"op\":\"infer\",\"inputs\":[[1,null]]}",
		"{\"op\":\"infer\",\"inputs\":[[1e300]]}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"samples\":0}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"samples\":5000}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"samples\":1.5}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"deadline_ms\":0}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"deadline_ms\":-5}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"outputs\":\"mean\"}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"outputs\":[\"median\"]}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"outputs\":[1]}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"name\":\"../etc\"}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"name\":\"\"}",
		"{\"op\":\"infer\",\"inputs\":[[1]],\"name\":5}",
	};
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i]) == E_BAD_REQUEST, "%s", bad[i]);
		ck_assert_ptr_null(r.inputs);
		ck_assert(msg[0]);
	}
	/* the element out of range is named */
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[0.5,1],[3,-2e30]]}"),
			 E_BAD_REQUEST);
	ck_assert_msg(strstr(msg, "inputs[1][1] = -2e+30: out of range"), "%s", msg);
}
END_TEST

START_TEST(t_infer_limits)
{
	json_t *o = json_pack("{s:s}", "op", "infer"), *in = json_array(), *v;
	char *s;
	unsigned i;

	for (i = 0; i < PROTO_MAX_INPUTS + 1; i++)
		json_array_append_new(in, json_pack("[i]", 1));
	json_object_set_new(o, "inputs", in);
	s = json_dumps(o, JSON_COMPACT);
	ck_assert_int_eq(parse(s), E_BAD_REQUEST);
	free(s);
	json_array_remove(in, 0);
	s = json_dumps(o, JSON_COMPACT);
	ck_assert_int_eq(parse(s), E_OK);
	ck_assert_uint_eq(r.n, PROTO_MAX_INPUTS);
	free(s);
	v = json_array();
	for (i = 0; i < PROTO_MAX_DIM + 1; i++)
		json_array_append_new(v, json_integer(0));
	json_object_set_new(o, "inputs", json_pack("[o]", v));
	s = json_dumps(o, JSON_COMPACT);
	ck_assert_int_eq(parse(s), E_BAD_REQUEST);
	free(s);
	json_decref(o);
}
END_TEST

START_TEST(t_load)
{
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m1\",\"path\":\"/tmp/x\"}"), E_OK);
	ck_assert_str_eq(r.path, "/tmp/x");
	ck_assert_ptr_null(r.data);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m1\",\"data\":\"Qk5OTQ==\",\"m\":8}"), E_OK);
	ck_assert_uint_eq(r.data_len, 4);
	ck_assert(!memcmp(r.data, "BNNM", 4));
	ck_assert_uint_eq(r.m, 8);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"path\":\"/tmp/x\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"a/b\",\"path\":\"/x\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"path\":\"/x\",\"data\":\"QQ==\"}"),
			 E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"path\":\"rel\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"path\":7}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"data\":\"\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"data\":\"a!==\"}"), E_BAD_REQUEST);
	ck_assert_ptr_null(r.data);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"data\":\"QQ==\",\"m\":-1}"),
			 E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"fd\":true,\"add\":true}"), E_OK);
	ck_assert(r.fd && r.add && !r.path[0] && !r.data);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"fd\":false}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"fd\":true,\"path\":\"/x\"}"),
			 E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"path\":\"/x\",\"add\":1}"),
			 E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"load\",\"name\":\"m\",\"path\":\"/x\"}"), E_OK);
	ck_assert(!r.add && !r.fd);
	ck_assert_int_eq(parse("{\"op\":\"unload\",\"name\":\"m\"}"), E_OK);
	ck_assert_int_eq(parse("{\"op\":\"unload\"}"), E_BAD_REQUEST);
}
END_TEST

START_TEST(t_infer_adaptive)
{
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]],\"precision\":0.02,"
			       "\"abstain\":0.5,\"name\":\"moons\"}"), E_OK);
	ck_assert_double_eq_tol(r.precision, 0.02, 1e-12);
	ck_assert_double_eq_tol(r.abstain, 0.5, 1e-12);
	ck_assert_str_eq(r.name, "moons");
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]]}"), E_OK);
	ck_assert(r.precision == 0 && r.abstain == 0);
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]],\"precision\":0.6}"),
			 E_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(msg, "\"precision\" must be a number in [0.0001, 0.5]"));
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]],\"precision\":\"x\"}"),
			 E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]],\"abstain\":0}"),
			 E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"infer\",\"inputs\":[[1]],\"abstain\":1e4}"),
			 E_BAD_REQUEST);
}
END_TEST

START_TEST(t_cards_ops)
{
	ck_assert_int_eq(parse("{\"op\":\"calibrate\"}"), E_OK);
	ck_assert_int_eq(r.card, -1);
	ck_assert_int_eq(parse("{\"op\":\"calibrate\",\"card\":2}"), E_OK);
	ck_assert_int_eq(r.card, 2);
	ck_assert_int_eq(parse("{\"op\":\"calibrate\",\"card\":\"2\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"reset\"}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"reset\",\"card\":-1}"), E_BAD_REQUEST);
	ck_assert_int_eq(parse("{\"op\":\"reset\",\"card\":0}"), E_OK);
}
END_TEST

START_TEST(t_base64)
{
	unsigned char out[16];

	ck_assert_int_eq(proto_b64_decode("TWFu", 4, out), 3);
	ck_assert(!memcmp(out, "Man", 3));
	ck_assert_int_eq(proto_b64_decode("TWE=", 4, out), 2);
	ck_assert_int_eq(proto_b64_decode("TWE", 3, out), 2);
	ck_assert_int_eq(proto_b64_decode("TQ==", 4, out), 1);
	ck_assert_int_eq(proto_b64_decode("T", 1, out), -1);
	ck_assert_int_eq(proto_b64_decode("TW E", 4, out), -1);
}
END_TEST

START_TEST(t_replies)
{
	json_t *id = json_integer(3);
	size_t len;
	char *s = proto_dump(proto_error(id, E_BUSY, "full"), &len);

	ck_assert_str_eq(s, "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"full\"},\"id\":3}\n");
	ck_assert_uint_eq(len, strlen(s));
	free(s);
	s = proto_dump(proto_ok(NULL), NULL);
	ck_assert_str_eq(s, "{\"ok\":true}\n");
	free(s);
	json_decref(id);
	ck_assert(proto_name_ok("a.b-c_9"));
	ck_assert(!proto_name_ok(".hidden"));
	ck_assert(!proto_name_ok("0123456789012345678901234567890123"));
}
END_TEST

/* ---- scheduler ---------------------------------------------------------- */

struct it {
	struct sched_item si;
	int client, seq;
};

static void count_free(struct sched_item *i, void *arg)
{
	(*(int *)arg)++;
	(void)i;
}

START_TEST(t_sched_fair)
{
	struct sched s;
	struct sched_client c[3];
	static struct it items[300];
	int seen[3] = { 0 }, i, k;

	sched_init(&s, 1024);
	for (i = 0; i < 3; i++)
		sched_client_init(&c[i]);
	/* client 0 floods 200, then 1 and 2 queue 50 each */
	for (i = 0; i < 200; i++) {
		items[i].client = 0;
		items[i].seq = i;
		ck_assert_int_eq(sched_push(&s, &c[0], &items[i].si), 0);
	}
	for (i = 0; i < 100; i++) {
		items[200 + i].client = 1 + i % 2;
		items[200 + i].seq = i / 2;
		ck_assert_int_eq(sched_push(&s, &c[1 + i % 2], &items[200 + i].si), 0);
	}
	ck_assert_uint_eq(s.pending, 300);
	/* the first 150 pops are exactly round-robin: 50 of each */
	for (k = 0; k < 150; k++) {
		struct it *x = (struct it *)sched_pop(&s);

		ck_assert_int_eq(x->client, k % 3);
		ck_assert_int_eq(x->seq, seen[x->client]++);	/* FIFO per client */
	}
	for (k = 0; k < 150; k++)
		ck_assert_int_eq(((struct it *)sched_pop(&s))->client, 0);
	ck_assert_ptr_null(sched_pop(&s));
	ck_assert_uint_eq(s.pending, 0);
}
END_TEST

START_TEST(t_sched_bound)
{
	struct sched s;
	struct sched_client a, b;
	static struct it items[10];
	int i, n = 0;

	sched_init(&s, 4);
	sched_client_init(&a);
	sched_client_init(&b);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(sched_push(&s, i % 2 ? &a : &b, &items[i].si), 0);
	ck_assert_int_eq(sched_push(&s, &a, &items[4].si), -EBUSY);
	ck_assert_int_eq(sched_push(&s, &b, &items[4].si), -EBUSY);
	/* a retry goes first and may exceed the bound */
	sched_requeue(&s, &a, &items[5].si);
	ck_assert_uint_eq(s.pending, 5);
	ck_assert_ptr_eq(sched_pop(&s), &items[5].si);
	/* a vanished client's work is cancelled, the other's stays */
	ck_assert_uint_eq(sched_drain_client(&s, &a, count_free, &n), 2);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(s.pending, 2);
	ck_assert_ptr_eq(sched_pop(&s), &items[0].si);
	ck_assert_ptr_eq(sched_peek(&s), &items[2].si);
	sched_remove(&s, &items[2].si);
	ck_assert_ptr_null(sched_peek(&s));
	ck_assert_int_eq(sched_push(&s, &a, &items[6].si), 0);
}
END_TEST

START_TEST(t_sched_requeue_order)
{
	struct sched s;
	struct sched_client a, b;
	static struct it items[4];

	sched_init(&s, 16);
	sched_client_init(&a);
	sched_client_init(&b);
	sched_push(&s, &a, &items[0].si);
	sched_push(&s, &b, &items[1].si);
	sched_push(&s, &a, &items[2].si);
	ck_assert_ptr_eq(sched_pop(&s), &items[0].si);
	/* a failed batch: put back in reverse pop order keeps FIFO order */
	sched_requeue(&s, &a, &items[0].si);
	ck_assert_ptr_eq(sched_pop(&s), &items[0].si);
	ck_assert_ptr_eq(sched_pop(&s), &items[1].si);
	ck_assert_ptr_eq(sched_pop(&s), &items[2].si);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bnnaccd");
	TCase *p = tcase_create("protocol"), *q = tcase_create("scheduler");

	tcase_add_checked_fixture(p, NULL, teardown);
	tcase_add_test(p, t_hello);
	tcase_add_test(p, t_malformed);
	tcase_add_test(p, t_too_large);
	tcase_add_test(p, t_simple_ops);
	tcase_add_test(p, t_infer_ok);
	tcase_add_test(p, t_infer_errors);
	tcase_add_test(p, t_infer_limits);
	tcase_add_test(p, t_load);
	tcase_add_test(p, t_infer_adaptive);
	tcase_add_test(p, t_cards_ops);
	tcase_add_test(p, t_base64);
	tcase_add_test(p, t_replies);
	tcase_add_test(q, t_sched_fair);
	tcase_add_test(q, t_sched_bound);
	tcase_add_test(q, t_sched_requeue_order);
	suite_add_tcase(s, p);
	suite_add_tcase(s, q);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_add_suite(sr, ctl_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
