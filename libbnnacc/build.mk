# libbnnacc - included by the top Makefile.
#
#   build/lib/libbnnacc.so.1.0.0 (soname libbnnacc.so.1, symbol versions from
#   libbnnacc/libbnnacc.map), build/lib/libbnnacc.a (static, for guest
#   programs: only bnnacc_list() needs libpci), build/lib/bnnacc.pc,
#   build/tools/bnnacc-info, and the Check tests build/unit/libbnnacc_test.
#   `make install-lib [DESTDIR=...] [PREFIX=/usr/local] [LIBDIR=...]`.

LIB_VERSION	:= 1.0.0
LIB_SONAME	:= libbnnacc.so.1
LIB_B		:= $(BUILD)/lib
LIB_SRC		:= $(wildcard libbnnacc/src/*.c)
LIB_HDR		:= libbnnacc/include/bnnacc/bnnacc.h $(wildcard libbnnacc/src/*.h) \
		   qemu-model/bnnacc_core.h
LIB_UAPI	:= $(LIB_B)/include/bnnacc/uapi.h
LIB_CPP		:= -D_GNU_SOURCE -I$(LIB_B)/include -Ilibbnnacc/include
# The simulated card (src/sim.c) runs the emulated card's physics core.
LIB_CORE_CPP	:= -Iqemu-model
LIB_PIC_OBJ	:= $(patsubst libbnnacc/src/%.c,$(LIB_B)/pic/%.o,$(LIB_SRC)) \
		   $(LIB_B)/pic/bnnacc_core.o
LIB_ST_OBJ	:= $(patsubst libbnnacc/src/%.c,$(LIB_B)/static/%.o,$(LIB_SRC)) \
		   $(LIB_B)/static/bnnacc_core.o
LIB_SO		:= $(LIB_B)/libbnnacc.so.$(LIB_VERSION)
LIB_A		:= $(LIB_B)/libbnnacc.a
LIB_PC		:= $(LIB_B)/bnnacc.pc
LIB_PCI		:= $(shell pkg-config --libs libpci 2>/dev/null || echo -lpci)
LIB_TEST	:= $(BUILD)/unit/libbnnacc_test
LIB_TEST_SRC	:= $(wildcard tests/unit/lib/*.c)
LIB_INFO	:= $(BUILD)/tools/bnnacc-info
PREFIX		?= /usr/local
LIBDIR		?= $(PREFIX)/lib

EXTRA_ALL += $(LIB_SO) $(LIB_A) $(LIB_PC) $(LIB_INFO)
EXTRA_UNIT_TESTS += $(LIB_TEST)

.PHONY: lib install-lib
lib: $(LIB_SO) $(LIB_A) $(LIB_PC) $(LIB_INFO)

$(LIB_UAPI): uapi/bnnacc.h
	@mkdir -p $(@D)
	cp $< $@

$(LIB_B)/pic/%.o: libbnnacc/src/%.c $(LIB_HDR) $(LIB_UAPI)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) $(LIB_CORE_CPP) $(WARN) $(CFLAGS) -fPIC -fvisibility=default -c $< -o $@

$(LIB_B)/static/%.o: libbnnacc/src/%.c $(LIB_HDR) $(LIB_UAPI)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) $(LIB_CORE_CPP) $(WARN) $(CFLAGS) -c $< -o $@

$(LIB_B)/pic/bnnacc_core.o: qemu-model/bnnacc_core.c qemu-model/bnnacc_core.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CORE_CPP) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(LIB_B)/static/bnnacc_core.o: qemu-model/bnnacc_core.c qemu-model/bnnacc_core.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CORE_CPP) $(WARN) $(CFLAGS) -c $< -o $@

$(LIB_SO): $(LIB_PIC_OBJ) libbnnacc/libbnnacc.map
	$(CC) -shared $(CFLAGS) -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=libbnnacc/libbnnacc.map -Wl,--no-undefined \
		$(LIB_PIC_OBJ) -o $@ $(LIB_PCI) -lm
	ln -sf libbnnacc.so.$(LIB_VERSION) $(LIB_B)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(LIB_B)/libbnnacc.so

$(LIB_A): $(LIB_ST_OBJ)
	rm -f $@
	ar rcs $@ $^

$(LIB_PC): libbnnacc/bnnacc.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@VERSION@|$(LIB_VERSION)|' $< > $@

$(LIB_INFO): tools/bnnacc-info.c $(LIB_A) $(LIB_HDR) $(LIB_UAPI)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) $(WARN) $(CFLAGS) $< -o $@ $(LIB_A) $(LIB_PCI) -lm

# The tests use the library's simulated card (its physics core is in $(LIB_A))
# and its internals (libbnnacc/src: bnl_sim_from_params, the network's maps).
$(LIB_TEST): $(LIB_TEST_SRC) $(wildcard tests/unit/lib/*.h) $(LIB_A) $(LIB_HDR) $(LIB_UAPI)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Ilibbnnacc/src $(LIB_CORE_CPP) $(WARN) $(CFLAGS) $(LIB_TEST_SRC) \
		-o $@ $(LIB_A) $(CHECK_LIBS) $(LIB_PCI) -lm

install-lib: $(LIB_SO) $(LIB_A)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/bnnacc
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libbnnacc.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libbnnacc.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@VERSION@|$(LIB_VERSION)|' libbnnacc/bnnacc.pc.in \
		> $(DESTDIR)$(LIBDIR)/pkgconfig/bnnacc.pc
	install -m 0644 libbnnacc/include/bnnacc/bnnacc.h $(LIB_UAPI) \
		$(DESTDIR)$(PREFIX)/include/bnnacc/

# The VM test of the library (tests/vm/guest/t_lib.c): static (dynamic in a
# SAN=1 build: LDSTATIC is empty), without libpci.
$(BUILD)/guest/t_lib: tests/vm/guest/t_lib.c tests/vm/guest/gtest.h $(LIB_A) $(LIB_HDR) $(LIB_UAPI)
	@mkdir -p $(@D)
	$(CC) $(LIB_CPP) -Itests/vm/guest $(WARN) $(CFLAGS) $(LDSTATIC) $< -o $@ $(LIB_A) -lm
