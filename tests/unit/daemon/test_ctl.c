// SPDX-License-Identifier: MIT
/*
 * test_ctl - bnnaccctl's argument handling, run as a program against a
 * scripted daemon: a thread on a temporary Unix socket that answers the
 * hello and each request with a canned reply in JSON-RPC 2.0 (protocol
 * version 2, with progress notifications before load's result), and keeps
 * the requests it got.
 * Checked: exit status and message of every kind of usage error (and that
 * nothing reached the daemon then), options after the command, the request
 * each command sends, cards by index, PCI address and serial, a big model
 * by path, a small one inline, one by descriptor (--fd), CSV parse errors
 * with their line.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "test_ctl.h"

#ifndef BNNACCCTL
#error "BNNACCCTL: the path of the bnnaccctl under test"
#endif

static char dir[64], sock_path[128];
static int lfd = -1;
static pthread_t th;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *got;		/* requests other than hello, in order */
static int conns;

static const char *reply_for(const char *op)
{
	if (!strcmp(op, "cards"))
		return "{\"ok\":true,\"cards\":["
		       "{\"index\":0,\"path\":\"/dev/bnnacc0\",\"pci\":\"0000:01:00.0\",\"serial\":\"00000000000000aa\",\"state\":\"ready\",\"m\":8,\"batches\":1,\"inputs\":2,\"errors\":0,\"utilization\":0.5},"
		       "{\"index\":1,\"path\":\"/dev/bnnacc1\",\"pci\":\"0000:02:00.0\",\"serial\":\"00000000000000bb\",\"state\":\"ready\",\"m\":8,\"batches\":0,\"inputs\":0,\"errors\":0,\"utilization\":0}]}";
	if (!strcmp(op, "infer"))
		return "{\"ok\":true,\"model\":\"toy\",\"card\":0,\"m\":4,\"n\":1,\"mean\":[[0.25,0.75]],"
		       "\"u_p\":[0.56],\"u_a\":[0.5],\"u_e\":[0.06]}";
	if (!strcmp(op, "load") || !strcmp(op, "reset") || !strcmp(op, "calibrate"))
		return "{\"ok\":true,\"name\":\"toy\",\"cards\":[{\"index\":1,\"ok\":true,\"m\":8,\"gamma\":[1]}]}";
	return "{\"ok\":true}";
}

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		FILE *f;
		char *line = NULL;
		size_t cap = 0;

		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&mu);
		conns++;
		pthread_mutex_unlock(&mu);
		f = fdopen(fd, "r+");
		while (f && getline(&line, &cap, f) > 0) {
			json_t *r = json_loads(line, 0, NULL), *req, *rep, *res;
			const char *op;
			char *out;

			/* JSON-RPC 2.0 (version 2): the request as {"op":method,..params} */
			if (!json_object_get(r, "jsonrpc")) {
				fprintf(f, "{\"ok\":true,\"version\":1}\n");	/* a raw hello */
				fflush(f);
				json_decref(r);
				continue;
			}
			req = json_deep_copy(json_object_get(r, "params"));
			if (!req)
				req = json_object();
			json_object_set(req, "op", json_object_get(r, "method"));
			op = json_string_value(json_object_get(r, "method"));
			if (strcmp(op, "hello")) {
				pthread_mutex_lock(&mu);
				json_array_append(got, req);
				pthread_mutex_unlock(&mu);
			}
			if (!strcmp(op, "load"))	/* progress, then the result */
				fprintf(f, "{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":"
					"{\"id\":1,\"op\":\"load\",\"card\":1,\"stage\":\"calibrating\","
					"\"cards_done\":0,\"cards\":1}}\n"
					"{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":"
					"{\"id\":1,\"op\":\"load\",\"card\":1,\"stage\":\"done\","
					"\"cards_done\":1,\"cards\":1,\"m\":8}}\n");
			res = json_loads(!strcmp(op, "hello") ? "{\"version\":2}" : reply_for(op), 0, NULL);
			json_object_del(res, "ok");
			rep = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
					json_object_get(r, "id"), "result", res);
			out = json_dumps(rep, JSON_COMPACT);
			fprintf(f, "%s\n", out);
			fflush(f);
			free(out);
			json_decref(rep);
			json_decref(req);
			json_decref(r);
		}
		free(line);
		if (f)
			fclose(f);
	}
}

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(dir, "/tmp/bnnaccctl-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	strcpy(sa.sun_path, sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	got = json_array();
	conns = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, server, NULL), 0);
}

static void teardown(void)
{
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(th, NULL);
	json_decref(got);
	unlink(sock_path);
	rmdir(dir);
}

/*
 * Run bnnaccctl with @args (NULL-terminated) and @in on its stdin; its
 * stdout and stderr into @out and @err. Returns the exit status.
 */
static int run(const char *in, char *out, size_t olen, char *err, size_t elen,
	       const char *const *args)
{
	char ofile[128], efile[128], ifile[128];
	const char *argv[32];
	int n = 0, st, fd;
	pid_t pid;
	FILE *f;

	snprintf(ofile, sizeof(ofile), "%s/out", dir);
	snprintf(efile, sizeof(efile), "%s/err", dir);
	snprintf(ifile, sizeof(ifile), "%s/in", dir);
	f = fopen(ifile, "w");
	fputs(in ? in : "", f);
	fclose(f);
	argv[n++] = BNNACCCTL;
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		setenv("BNNACCD_SOCKET", sock_path, 1);
		fd = open(ifile, O_RDONLY);
		dup2(fd, 0);
		fd = open(ofile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		fd = open(efile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		execv(BNNACCCTL, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	for (int k = 0; k < 2; k++) {
		char *buf = k ? err : out;
		size_t len = k ? elen : olen, r;

		f = fopen(k ? efile : ofile, "r");
		r = f ? fread(buf, 1, len - 1, f) : 0;
		buf[r] = 0;
		if (f)
			fclose(f);
	}
	unlink(ofile);
	unlink(efile);
	unlink(ifile);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#define RUN(in, ...) run(in, out, sizeof(out), err, sizeof(err), \
			 (const char *const[]){ __VA_ARGS__, NULL })
/* RUN, and its exit status must be @want (else its stderr is shown) */
#define EXPECT(want, in, ...) do { \
		int rc_ = RUN(in, __VA_ARGS__); \
		ck_assert_msg(rc_ == (want), "exit status %d, want %d; stderr: %s", \
			      rc_, (want), err); \
	} while (0)

static json_t *last_request(void)
{
	json_t *r;

	pthread_mutex_lock(&mu);
	r = json_array_get(got, json_array_size(got) - 1);
	pthread_mutex_unlock(&mu);
	return r;
}

START_TEST(t_usage_errors)
{
	char out[8192], err[4096];

	EXPECT(0, NULL, "--version");
	ck_assert_ptr_nonnull(strstr(out, "bnnaccctl "));
	ck_assert_ptr_nonnull(strstr(out, "protocol"));
	EXPECT(2, NULL, "infer", "-m", "abc");
	ck_assert_ptr_nonnull(strstr(err, "--samples 'abc': not a whole number in 1..1024"));
	EXPECT(2, NULL, "infer", "--samples", "0");
	EXPECT(2, NULL, "infer", "-d", "12x");
	EXPECT(2, "1 2\n", "infer", "--precision", "0.9");
	ck_assert_ptr_nonnull(strstr(err, "--precision '0.9': not a number in 0.0001..0.5"));
	EXPECT(2, "1 2\n", "infer", "--abstain", "x");
	ck_assert_ptr_nonnull(strstr(err, "--abstain 'x': not a number"));
	EXPECT(2, "0.1,abc\n", "infer");
	ck_assert_ptr_nonnull(strstr(err, "line 1, field 2: 'abc' is not a number"));
	EXPECT(2, "0.1 0.2\n# c\n\n0.3\n", "infer");
	ck_assert_ptr_nonnull(strstr(err, "line 4 has 1 numbers, line 1 has 2"));
	EXPECT(2, "", "infer");
	ck_assert_ptr_nonnull(strstr(err, "no input vector"));
	EXPECT(2, NULL, "load", "x");
	ck_assert_ptr_nonnull(strstr(err, "missing arguments"));
	EXPECT(2, NULL, "unload", "a", "b");
	ck_assert_ptr_nonnull(strstr(err, "too many arguments"));
	EXPECT(2, NULL, "frobnicate");
	ck_assert_ptr_nonnull(strstr(err, "no command 'frobnicate'"));
	EXPECT(2, NULL, "benchmark", "--clients", "0");
	ck_assert_ptr_nonnull(strstr(err, "--clients '0': not a whole number in 1..256"));
	EXPECT(2, NULL, "cards", "--bogus");
	ck_assert_ptr_nonnull(strstr(err, "unknown option '--bogus'"));
	EXPECT(1, NULL, "load", "a", "/nonexistent/m.bnnm");
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	/* none of these reached the daemon */
	ck_assert_int_eq(conns, 0);
	EXPECT(0, NULL, "help", "load");
	ck_assert_ptr_nonnull(strstr(out, "usage: bnnaccctl load [OPTIONS] NAME MODEL-FILE"));
	EXPECT(0, NULL, "infer", "--help");
	ck_assert_ptr_nonnull(strstr(out, "--deadline-ms MS"));
	EXPECT(0, NULL, "--help");
	ck_assert_ptr_nonnull(strstr(out, "commands:"));
}
END_TEST

START_TEST(t_requests)
{
	char out[8192], err[4096], csv[128];
	json_t *r, *j;
	FILE *f;

	/* options after the command, --json output that parses */
	EXPECT(0, NULL, "cards", "--json");
	j = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_array_size(json_object_get(j, "cards")), 2);
	json_decref(j);
	EXPECT(0, NULL, "cards");
	ck_assert_ptr_nonnull(strstr(out, "0000:02:00.0"));
	ck_assert_ptr_nonnull(strstr(out, "INDEX"));

	snprintf(csv, sizeof(csv), "%s/x.csv", dir);
	f = fopen(csv, "w");
	fputs("0.5, -1e-3\n", f);
	fclose(f);
	EXPECT(0, NULL, "infer", csv, "--samples", "3", "-d", "500", "-j");
	r = last_request();
	ck_assert_str_eq(json_string_value(json_object_get(r, "op")), "infer");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "samples")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "deadline_ms")), 500);
	ck_assert_double_eq_tol(json_number_value(json_array_get(json_array_get(
		json_object_get(r, "inputs"), 0), 1)), -1e-3, 1e-12);
	EXPECT(0, "1 2\n", "infer");
	ck_assert_ptr_nonnull(strstr(out, "0 1 0.7500 0.5600 0.5000 0.0600"));
	r = last_request();
	ck_assert_ptr_null(json_object_get(r, "samples"));
	ck_assert_ptr_null(json_object_get(r, "precision"));
	ck_assert_ptr_null(json_object_get(r, "name"));
	EXPECT(0, "1 2\n", "infer", "--model", "moons", "--precision", "0.02", "-a", "0.1");
	r = last_request();
	ck_assert_str_eq(json_string_value(json_object_get(r, "name")), "moons");
	ck_assert_double_eq_tol(json_number_value(json_object_get(r, "precision")), 0.02, 1e-12);
	ck_assert_double_eq_tol(json_number_value(json_object_get(r, "abstain")), 0.1, 1e-12);
	unlink(csv);
}
END_TEST

START_TEST(t_cards_by_name)
{
	static const char *const specs[][2] = {
		{ "1", "1" }, { "0000:02:00.0", "1" }, { "02:00.0", "1" },
		{ "00000000000000AA", "0" }, { "/dev/bnnacc1", "1" },
	};
	char out[8192], err[4096];

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		EXPECT(0, NULL, "reset", specs[i][0]);
		ck_assert_int_eq(json_integer_value(json_object_get(last_request(), "card")),
				 atoi(specs[i][1]));
	}
	EXPECT(1, NULL, "reset", "0000:09:00.0");
	ck_assert_ptr_nonnull(strstr(err, "no card is '0000:09:00.0'"));
	ck_assert_ptr_nonnull(strstr(err, "0000:01:00.0"));
	ck_assert_str_eq(json_string_value(json_object_get(last_request(), "op")), "cards");
}
END_TEST

START_TEST(t_load_inline_and_by_path)
{
	char out[8192], err[4096], small[128], big[128];
	size_t big_len = (size_t)1 << 20;
	char *buf = malloc(big_len);
	json_t *r;
	FILE *f;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'x', big_len);
	snprintf(small, sizeof(small), "%s/small.bnnm", dir);
	snprintf(big, sizeof(big), "%s/big.bnnm", dir);
	f = fopen(small, "w");
	fputs("abcd", f);
	fclose(f);
	f = fopen(big, "w");
	fwrite(buf, 1, big_len, f);
	fclose(f);
	free(buf);
	EXPECT(0, NULL, "load", "toy", small, "--networks", "7");
	r = last_request();
	ck_assert_str_eq(json_string_value(json_object_get(r, "data")), "YWJjZA==");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "m")), 7);
	ck_assert_ptr_null(json_object_get(r, "add"));
	EXPECT(0, NULL, "load", "--add", "toy", small);
	r = last_request();
	ck_assert(json_is_true(json_object_get(r, "add")));
	ck_assert_ptr_nonnull(strstr(out, "card 1: ok, M=8"));
	/* the progress notifications, as a bar on stderr */
	ck_assert_msg(strstr(err, "[--------------------] 0/1 cards: card 1 calibrating"), "%s", err);
	ck_assert_msg(strstr(err, "[####################] 1/1 cards: card 1 done, M=8"), "%s", err);
	EXPECT(0, NULL, "load", "toy", big);
	r = last_request();
	ck_assert_ptr_null(json_object_get(r, "data"));
	ck_assert_str_eq(json_string_value(json_object_get(r, "path")), big);
	EXPECT(2, NULL, "load", "toy", small, "0");
	/* --fd: the open file goes with the request (SCM_RIGHTS), neither data nor path */
	EXPECT(0, NULL, "load", "--fd", "toy", big);
	r = last_request();
	ck_assert(json_is_true(json_object_get(r, "fd")));
	ck_assert_ptr_null(json_object_get(r, "data"));
	ck_assert_ptr_null(json_object_get(r, "path"));
	ck_assert_ptr_nonnull(strstr(out, "card 1: ok, M=8"));
	unlink(small);
	unlink(big);
}
END_TEST

Suite *ctl_suite(void)
{
	Suite *s = suite_create("bnnaccctl");
	TCase *t = tcase_create("cli");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, t_usage_errors);
	tcase_add_test(t, t_requests);
	tcase_add_test(t, t_cards_by_name);
	tcase_add_test(t, t_load_inline_and_by_path);
	suite_add_tcase(s, t);
	return s;
}
