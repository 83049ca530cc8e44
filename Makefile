# stretchlog build. Non-recursive: every module's sources are compiled into one
# static library per module; programs and test binaries link what they need.
#
#   make deps    install build/test dependencies if missing (idempotent)
#   make demo    deps + build + a 3-region cluster demo (deploy/demo.sh)
#   make demo-storage  the partition-storage walk-through
#   make all     build everything (warnings are errors)
#   make test    deps + build + every test suite
#   make asan    the same tests under AddressSanitizer + UBSan
#   make bench   benchmarks, one "BENCH <name> <value> <unit>" line per figure
#   make sim     the deterministic cluster simulator: SEEDS=N [SEED=first] [JOBS=j]
#                [SCENARIO=draw|chaos|region-fail|follower-cut]
#   make fuzz    libFuzzer over the Kafka request path (clang): FUZZ_SECONDS=300
#   make format  clang-format every C file
#   make clean

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SAN     ?=
PKGS    := raft libuv liblz4
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wformat=2 -Werror
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SAN) -I. -MMD -MP
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm

MODULES := common proto raftlog placement server client
# Files named main.c or *_main.c are programs, not library members.
lib_srcs = $(filter-out $(1)/main.c $(wildcard $(1)/*_main.c),$(wildcard $(1)/*.c))
define module_lib
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/%.o,$$(call lib_srcs,$(1)))
$(BUILD)/lib$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
endef
$(foreach m,$(MODULES),$(eval $(call module_lib,$(m))))

# Link order: dependants first.
LIBS := $(BUILD)/libserver.a $(BUILD)/libclient.a $(BUILD)/libplacement.a \
        $(BUILD)/libraftlog.a $(BUILD)/libproto.a $(BUILD)/libcommon.a

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Unit tests: every tests/unit/test_<name>.c exports `Suite *<name>_suite(void)`.
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_NAMES := $(patsubst tests/unit/test_%.c,%,$(UNIT_SRCS))
UNIT_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(UNIT_SRCS) tests/unit/main.c tests/unit/helpers.c)
$(BUILD)/tests/unit/suites.h: $(UNIT_SRCS) Makefile
	@mkdir -p $(@D)
	@{ for n in $(UNIT_NAMES); do echo "SUITE($$n)"; done; } > $@.tmp && \
	  (cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@)
$(BUILD)/tests/unit/main.o: $(BUILD)/tests/unit/suites.h
$(BUILD)/tests/unit/main.o: ALL_CFLAGS += -I$(BUILD)/tests/unit
$(BUILD)/test_unit: $(UNIT_OBJS) $(LIBS)
	$(CC) $(SAN) -o $@ $(UNIT_OBJS) $(LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

# Single-file programs under tests/<dir>/ (crash, bench, ...) and deploy tools.
# tests/bench/kafka_bench.c needs librdkafka: built (below) only where
# pkg-config finds it, so that `make all` never fails without it.
PROG_SRCS := $(filter-out tests/bench/kafka_bench.c,\
	$(wildcard tests/crash/*.c tests/bench/*.c tests/demo/*.c tests/cluster/*.c tests/tools/*.c))
PROGS     := $(patsubst %.c,$(BUILD)/%,$(PROG_SRCS))

# The Kafka-protocol benchmark client (tests/bench/bench_kafka.py runs it).
# Not under $(BUILD)/tests/bench/, whose programs run-bench.sh runs bare.
RDKAFKA_OK := $(shell pkg-config --exists rdkafka 2>/dev/null && echo 1)
KAFKA_BENCH := $(if $(RDKAFKA_OK),$(BUILD)/tests/kafka/kafka_bench)
$(BUILD)/tests/kafka/kafka_bench: tests/bench/kafka_bench.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(shell pkg-config --cflags rdkafka) $(CFLAGS) -o $@ $< \
	  $(shell pkg-config --libs rdkafka)
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIBS)
	$(CC) $(SAN) -o $@ $< $(LIBS) $(LDLIBS_ALL)

# The broker.
$(BUILD)/stretchlogd: $(BUILD)/server/main.o $(LIBS)
	$(CC) $(SAN) -o $@ $< $(LIBS) $(LDLIBS_ALL)

# The deterministic cluster simulator: every tests/sim/*.c in one program.
SIM_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/sim/*.c))
$(BUILD)/tests/sim/sim: $(SIM_OBJS) $(LIBS)
	$(CC) $(SAN) -o $@ $(SIM_OBJS) $(LIBS) $(LDLIBS_ALL)

all: $(BUILD)/test_unit $(PROGS) $(KAFKA_BENCH) $(BUILD)/stretchlogd $(BUILD)/tests/sim/sim

deps:
	@bash scripts/deps.sh

test: deps
	$(MAKE) all
	bash scripts/run-tests.sh $(BUILD)

asan: deps
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  SL_TEST_QUICK=1 bash scripts/run-tests.sh build-asan

# make demo: a 3-region cluster on loopback (deploy/demo.sh); make demo-storage:
# the partition-storage walk-through (group commit, torn tail, recovery).
demo: deps
	$(MAKE) all
	bash deploy/demo.sh $(BUILD)

demo-storage: deps
	$(MAKE) all
	$(BUILD)/tests/demo/storage_demo

bench: deps
	$(MAKE) all
	bash scripts/run-bench.sh $(BUILD)

# make sim SEEDS=N [SEED=first] [JOBS=j] [SCENARIO=name]: run the cluster
# simulator (SCENARIO: draw, the default, lets each seed pick).
SEEDS ?= 200
SEED  ?= 1
JOBS  ?= $(shell nproc 2>/dev/null || echo 1)
SCENARIO ?= draw
sim: deps
	$(MAKE) $(BUILD)/tests/sim/sim
	$(BUILD)/tests/sim/sim --seeds $(SEEDS) --seed $(SEED) --jobs $(JOBS) --scenario $(SCENARIO)

# make fuzz [FUZZ_SECONDS=300]: libFuzzer over the Kafka request path, built
# with clang into build-fuzz/ by tests/fuzz/run.sh (make test runs it briefly).
FUZZ_SECONDS ?= 300
fuzz: deps
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)
.PHONY: fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all deps demo demo-storage test asan bench sim format clean
.DEFAULT_GOAL := all

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
