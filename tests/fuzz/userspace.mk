# Userspace fuzzing (docs/reliability.md) - included by the top Makefile.
#
# libFuzzer targets built with Debian's clang (clang-14, libclang-rt-14-dev)
# and AddressSanitizer + UndefinedBehaviorSanitizer, from the sources
# directly (not an installed library):
#   $(BUILD)/fuzz/fuzz_model  bnnacc_model_load_mem() and the accessors of a
#                             loaded model (tests/fuzz/fuzz_model.c)
#   $(BUILD)/fuzz/fuzz_proto  bnnaccd's request parser and its replies
#                             (daemon/proto.c; tests/fuzz/fuzz_proto.c)
# Corpora: tests/fuzz/corpus/<target>/ (checked in: protocol examples of
# docs/protocol.md, model files written to the spec by hand, and the
# reproducer of every bug found: a regression test, run at every start),
# $(BUILD)/fuzz/seeds/<target>/ (generated: valid model files written by the
# library and by the demo trainer, load requests carrying one), and
# $(BUILD)/fuzz/corpus/<target>/ (what the fuzzer adds; kept between runs).
# A crash, leak, timeout, out-of-memory or over-large allocation fails the
# run; its input is in $(BUILD)/fuzz/artifacts/<target>/, the log in
# $(BUILD)/fuzz/logs/.
#
#   make fuzz-user-short   FUZZ_SHORT_S (50) seconds per target (make check)
#   make fuzz-user         FUZZ_LONG_S (600) seconds per target (make fuzz)
#   make fuzz-user-build   just build the targets and the seeds

FUZZ_CC		?= clang-14
FUZZ_B		:= $(BUILD)/fuzz
FUZZ_FLAGS	:= -g -O1 -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_TARGETS	:= fuzz_model fuzz_proto
FUZZ_SHORT_S	?= 50
FUZZ_LONG_S	?= 600
# per-input limits: seconds, and the largest input (a model of a few
# thousand weights; a request line of a few hundred numbers)
FUZZ_TIMEOUT	?= 20
FUZZ_MAXLEN_fuzz_model := 16384
FUZZ_MAXLEN_fuzz_proto := 8192
# the largest single allocation (MB) a target may make: a request line of
# at most 8 KiB never needs 1 MB (the parser used to allocate n x dim floats
# before checking the vectors' lengths: 64 MB for a 20 KB line)
FUZZ_MALLOC_fuzz_model := 16
FUZZ_MALLOC_fuzz_proto := 1

FUZZ_BINS	:= $(addprefix $(FUZZ_B)/,$(FUZZ_TARGETS))
FUZZ_SEEDS	:= $(FUZZ_B)/seeds/.done

CHECK_EXTRA	+= fuzz-user-short
FUZZ_LONG	+= fuzz-user

.PHONY: fuzz-user fuzz-user-short fuzz-user-build

# the library's sources include its simulated card, on the physics core
FUZZ_LIB_SRC	:= $(LIB_SRC) qemu-model/bnnacc_core.c

$(FUZZ_B)/fuzz_model: tests/fuzz/fuzz_model.c $(FUZZ_LIB_SRC) $(LIB_HDR) $(LIB_UAPI)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(LIB_CPP) $(LIB_CORE_CPP) $(WARN) $(FUZZ_FLAGS) $< $(FUZZ_LIB_SRC) -o $@ \
		$(LIB_PCI) -lm

$(FUZZ_B)/fuzz_proto: tests/fuzz/fuzz_proto.c daemon/proto.c $(D_HDR) $(FUZZ_LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(D_CPP) $(LIB_CORE_CPP) $(WARN) $(FUZZ_FLAGS) $< daemon/proto.c \
		$(FUZZ_LIB_SRC) -o $@ -ljansson $(LIB_PCI) -lm

$(FUZZ_B)/gen_seeds: tests/fuzz/gen_seeds.c daemon/client.c daemon/client.h $(LIB_A) $(LIB_HDR) \
		$(LIB_UAPI)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Idaemon $(WARN) $(CFLAGS) $< daemon/client.c -o $@ $(LIB_A) -ljansson -lm

# plus the demo's trained 2-32-2 network (what the trainer really writes)
$(FUZZ_SEEDS): $(FUZZ_B)/gen_seeds $(DEMO_TOOL)
	rm -rf $(@D)
	mkdir -p $(@D)/fuzz_model $(@D)/fuzz_proto
	$(FUZZ_B)/gen_seeds $(@D)/fuzz_model $(@D)/fuzz_proto
	$(DEMO_TOOL) train --out $(@D)/fuzz_model/demo-2-32-2.bnnm > $(@D)/demo-train.log 2>&1 || \
		{ cat $(@D)/demo-train.log; exit 1; }
	touch $@

fuzz-user-build: $(FUZZ_BINS) $(FUZZ_SEEDS)

# $(call fuzz_run,TARGET,SECONDS): one libFuzzer run; the last stat lines
# (executions, rate, corpus) are printed, the whole log kept.
define fuzz_run
@mkdir -p $(FUZZ_B)/corpus/$(1) $(FUZZ_B)/artifacts/$(1) $(FUZZ_B)/logs
@echo "fuzz: $(1) for $(2) s (log $(FUZZ_B)/logs/$(1).log)"
@before=$$(ls $(FUZZ_B)/corpus/$(1) | wc -l); \
	if $(FUZZ_B)/$(1) -max_total_time=$(2) -timeout=$(FUZZ_TIMEOUT) \
		-max_len=$(FUZZ_MAXLEN_$(1)) -malloc_limit_mb=$(FUZZ_MALLOC_$(1)) \
		-dict=tests/fuzz/$(1).dict \
		-artifact_prefix=$(FUZZ_B)/artifacts/$(1)/ -print_final_stats=1 \
		$(FUZZ_B)/corpus/$(1) tests/fuzz/corpus/$(1) $(FUZZ_B)/seeds/$(1) \
		> $(FUZZ_B)/logs/$(1).log 2>&1; then \
		grep -E '^(stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|Done )' \
			$(FUZZ_B)/logs/$(1).log | sed 's/^/fuzz: $(1): /'; \
		echo "fuzz: $(1): corpus $$before -> $$(ls $(FUZZ_B)/corpus/$(1) | wc -l) files"; \
	else \
		tail -n 60 $(FUZZ_B)/logs/$(1).log; \
		echo "fuzz: $(1) FAILED: input in $(FUZZ_B)/artifacts/$(1)/; minimise with" \
		     "$(FUZZ_B)/$(1) -minimize_crash=1 -runs=10000 FILE" >&2; \
		exit 1; \
	fi
endef

FUZZ_SHORT_RUNS	:= $(addprefix fuzz-short-,$(FUZZ_TARGETS))
FUZZ_LONG_RUNS	:= $(addprefix fuzz-long-,$(FUZZ_TARGETS))
.PHONY: $(FUZZ_SHORT_RUNS) $(FUZZ_LONG_RUNS)

$(FUZZ_SHORT_RUNS): fuzz-short-%: fuzz-user-build
	$(call fuzz_run,$*,$(FUZZ_SHORT_S))

$(FUZZ_LONG_RUNS): fuzz-long-%: fuzz-user-build
	$(call fuzz_run,$*,$(FUZZ_LONG_S))

fuzz-user-short: $(FUZZ_SHORT_RUNS)
fuzz-user: $(FUZZ_LONG_RUNS)
