# demo - included by the top Makefile: the paper end to end (`make demo`).
#
#   build/demo/bnn-demo      host side: trainer, data points, report
#   build/guest/p_demo       card side in the VM (static unless SAN=1, libbnnacc.a, jansson):
#                            through bnnaccd (daemon/client.c), or libbnnacc directly
#   build/unit/demo_test     Check tests of the data sets and trainers
# demo/run-demo.sh drives them; tests/vm/cases/60-demo.sh checks the fidelity.

DEMO_B		:= $(BUILD)/demo
DEMO_TOOL	:= $(DEMO_B)/bnn-demo
DEMO_GUEST	:= $(BUILD)/guest/p_demo
DEMO_TEST	:= $(BUILD)/unit/demo_test
DEMO_HDR	:= demo/bnn.h demo/card_run.h $(LIB_HDR) $(LIB_UAPI)

EXTRA_ALL += $(DEMO_TOOL) $(DEMO_GUEST)
EXTRA_UNIT_TESTS += $(DEMO_TEST)

DEMO_TRAIN_SRC	:= demo/bnn.c demo/data.c demo/mcmc.c

$(DEMO_TOOL): demo/bnn_demo.c $(DEMO_TRAIN_SRC) $(DEMO_HDR) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Idemo $(WARN) $(CFLAGS) demo/bnn_demo.c $(DEMO_TRAIN_SRC) -o $@ $(LIB_A) -lm

$(DEMO_GUEST): tests/vm/guest/p_demo.c demo/card_run.c demo/daemon_run.c daemon/client.c \
		daemon/client.h $(DEMO_HDR) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Idemo -Idaemon $(WARN) $(CFLAGS) $(LDSTATIC) tests/vm/guest/p_demo.c \
		demo/card_run.c demo/daemon_run.c daemon/client.c -o $@ $(LIB_A) -ljansson -lm

$(DEMO_TEST): $(wildcard tests/unit/demo/*.c) $(DEMO_TRAIN_SRC) $(DEMO_HDR) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Idemo $(WARN) $(CFLAGS) $(wildcard tests/unit/demo/*.c) $(DEMO_TRAIN_SRC) \
		-o $@ $(LIB_A) $(CHECK_LIBS) -lm
