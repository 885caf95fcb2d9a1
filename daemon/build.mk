# bnnaccd and bnnaccctl - included by the top Makefile.
#
#   build/daemon/bnnaccd, build/daemon/bnnaccctl: the host's programs,
#   linked dynamically (NSS works: group names resolve through nsswitch.conf).
#   build/guest/bnnaccd, build/guest/bnnaccctl: the same sources linked
#   statically for the VM bench's guest (Debian ships libevent.a,
#   libjansson.a, libnl-3.a and libnl-genl-3.a; the guest has no shared
#   libraries), with the test helper d_tool. In a SAN=1 build (LDSTATIC
#   empty) the guest's copies link dynamically too: the sanitizer runtimes
#   are shared.
#   build/unit/daemon_test: Check tests of the protocol and the scheduler.
#   daemon/client.c: the protocol's C client (client.h), linked into
#   bnnaccctl, d_tool, d_fault (static, jansson), the demo's p_demo and
#   gen_seeds; build/unit/client_test: its Check tests against a fake daemon.

D_B		:= $(BUILD)/daemon
D_CPP		:= -D_GNU_SOURCE -I$(LIB_B)/include -Ilibbnnacc/include -Idaemon \
		   $(shell pkg-config --cflags libnl-genl-3.0 jansson libevent 2>/dev/null || echo -I/usr/include/libnl3)
D_COMMON	:= daemon/proto.c daemon/dsched.c
D_HDR		:= $(wildcard daemon/*.h) libbnnacc/include/bnnacc/bnnacc.h $(LIB_UAPI)
D_BIN		:= $(D_B)/bnnaccd $(D_B)/bnnaccctl
D_GUEST		:= $(BUILD)/guest/bnnaccd $(BUILD)/guest/bnnaccctl $(BUILD)/guest/d_tool
D_TEST		:= $(BUILD)/unit/daemon_test
D_CLI		:= daemon/client.c
D_CLI_TEST	:= $(BUILD)/unit/client_test

EXTRA_ALL += $(D_BIN) $(D_GUEST)
EXTRA_UNIT_TESTS += $(D_TEST) $(D_CLI_TEST)

.PHONY: daemon
daemon: $(D_BIN) $(D_GUEST)

D_SRC		:= $(addprefix daemon/,bnnaccd.c cards.c clients.c infer.c metrics.c models.c netlink.c util.c) $(D_COMMON)
D_LIBS		:= $(LIB_A) -levent_extra -levent_core -levent_pthreads -ljansson \
		   -lnl-genl-3 -lnl-3 -lpthread -lm
CTL_SRC		:= daemon/bnnaccctl.c $(D_CLI)
CTL_CPP		:= $(D_CPP) -DBNNACC_VERSION='"$(shell cat VERSION)"'

$(D_B)/bnnaccd: $(D_SRC) $(D_HDR) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(D_CPP) $(WARN) $(CFLAGS) $(D_SRC) -o $@ $(D_LIBS)

$(BUILD)/guest/bnnaccd: $(D_SRC) $(D_HDR) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(D_CPP) $(WARN) $(CFLAGS) $(LDSTATIC) $(D_SRC) -o $@ $(D_LIBS)

$(D_B)/bnnaccctl: $(CTL_SRC) $(D_HDR) VERSION $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CTL_CPP) $(WARN) $(CFLAGS) $(CTL_SRC) -o $@ $(LIB_A) -ljansson -lpthread -lm

$(BUILD)/guest/bnnaccctl: $(CTL_SRC) $(D_HDR) VERSION $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CTL_CPP) $(WARN) $(CFLAGS) $(LDSTATIC) $(CTL_SRC) -o $@ $(LIB_A) -ljansson -lpthread -lm

$(BUILD)/guest/d_tool: tests/vm/guest/d_tool.c tests/vm/guest/dclient.h $(D_CLI) $(LIB_A) $(D_HDR)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Idaemon $(WARN) $(CFLAGS) $(LDSTATIC) $< $(D_CLI) -o $@ $(LIB_A) \
		-ljansson -lpthread -lm

# not the generic guest rule (plain libc): d_fault speaks through the client.
# It abuses the daemon (is not product code): static and unsanitized always.
$(BUILD)/guest/d_fault: tests/vm/guest/d_fault.c tests/vm/guest/dclient.h $(D_CLI) $(D_HDR)
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -Idaemon $(WARN) $(GUEST_CFLAGS) -static $< $(D_CLI) -o $@ -ljansson -lm

$(D_CLI_TEST): tests/unit/client/test_client.c $(D_CLI) daemon/proto.c $(D_HDR)
	@mkdir -p $(@D)
	$(CC) $(D_CPP) $(WARN) $(CFLAGS) $< $(D_CLI) daemon/proto.c -o $@ -ljansson $(CHECK_LIBS) \
		-lpthread -lm

# test_ctl.c runs the bnnaccctl built beside it
$(D_TEST): $(wildcard tests/unit/daemon/*.[ch]) $(D_COMMON) $(D_HDR) $(D_B)/bnnaccctl
	@mkdir -p $(@D)
	$(CC) $(D_CPP) -DBNNACCCTL='"$(D_B)/bnnaccctl"' $(WARN) $(CFLAGS) \
		$(wildcard tests/unit/daemon/*.c) $(D_COMMON) -o $@ -ljansson $(CHECK_LIBS) -lpthread -lm
