# petrel: the two commands of the README, and a few more.
#   make run     build petrel and start it with the embedded default setup
#   make check   build, then run every test (unit, corpus replay, integration),
#                with a release build and again with ASan + UBSan
#   make bench   throughput, CPU and memory figures (against Postfix if present)
#   make fuzz    run each libFuzzer target for FUZZ_SECONDS
# A plain Makefile only wraps CMake (CMakePresets.json); tools/deps.sh installs
# whatever Debian packages are missing first.

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20
PYTEST = /usr/bin/python3 -m pytest

.PHONY: all build asan run check unit integration bench fuzz clean

all: build

build:
	@tools/deps.sh build
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)

asan:
	@tools/deps.sh check
	cmake --preset asan >/dev/null
	cmake --build build/asan -j$(JOBS)

run: build
	exec build/release/petrel serve

unit: build asan
	cd build/release && ctest --output-on-failure -j$(JOBS)
	cd build/asan && ctest --output-on-failure -j$(JOBS)

integration: build asan
	PETREL_BIN=$(CURDIR)/build/release/petrel $(PYTEST) -q tests/integration
	PETREL_BIN=$(CURDIR)/build/asan/petrel $(PYTEST) -q tests/integration

check:
	@tools/deps.sh check
	$(MAKE) unit
	$(MAKE) integration

bench: build
	@tools/deps.sh bench
	bench/run.sh $(CURDIR)/build/release/petrel

fuzz:
	@tools/deps.sh fuzz
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS)
	tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build
