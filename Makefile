# custody — the human entry point. `make run` and `make test` are all a
# newcomer needs on a fresh Debian 12 machine; both install what is missing.
.PHONY: all build deps run test unit asan fuzz fuzz-smoke bench format style clean help

BUILD     ?= build
STATE     ?= var/custody
JOBS      ?= $(shell nproc)
FUZZ_TIME ?= 60
CTEST_ARGS ?= --output-on-failure -j$(JOBS)

all: build

help:
	@echo "make            build into build/ (build/bin/custody, build/bin/custodyd)"
	@echo "make run        initialise $(STATE) if missing and start custodyd on it"
	@echo "make test       style check, unit + integration tests, fuzz targets over their corpora"
	@echo "make asan       the test suite under AddressSanitizer + UBSan (build-asan/)"
	@echo "make fuzz       run every fuzz target for FUZZ_TIME seconds (default 60)"
	@echo "make bench      benchmarks against nginx; see docs/PERFORMANCE.md"

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS) -- --no-print-directory

run: build
	@test -f $(STATE)/config.yaml || $(BUILD)/bin/custody init --state $(STATE)
	@echo "custodyd: starting on $(STATE)  (Ctrl-C to stop)"
	@echo "  try:  CUSTODY_STATE=$(STATE) $(BUILD)/bin/custody ls demo:/"
	@echo "  or:   curl --unix-socket $(STATE)/custodyd.sock http://localhost/v1/fs/demo/"
	@exec $(BUILD)/bin/custodyd --state $(STATE)

style:
	@tools/stylecheck.sh

test: build style
	@cd $(BUILD) && ctest $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz-smoke

unit: build
	@cd $(BUILD) && ctest $(CTEST_ARGS) -R '^unit/'

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCUSTODY_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS) -- --no-print-directory
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

build-fuzz/Makefile: CMakeLists.txt | deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUSTODY_FUZZ=ON >/dev/null

fuzz-build: build-fuzz/Makefile
	@cmake --build build-fuzz -j$(JOBS) -- --no-print-directory

# Each fuzz target over its checked-in corpus, plus a few seconds of new inputs.
fuzz-smoke: fuzz-build
	@tools/fuzz.sh smoke

fuzz: fuzz-build
	@tools/fuzz.sh long $(FUZZ_TIME)

bench: build
	@build/bin/ledger_bench
	@build/bin/policy_bench
	@build/bin/token_bench
	@bench/secured.sh
	@bench/mcp.sh
	@bench/fuse.sh
	@bench/run.sh
	@bash bench/model_cpu.sh $(BUILD)
	@bash bench/model_prewarm.sh $(BUILD)
	@BENCH_BIN=$(BUILD)/bin bash bench/pull.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
