# Thin wrapper around CMake. `make run PROMPT="..."` and `make test` each install what
# they need first (scripts/install-deps.sh, Debian packages).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PROMPT     ?= a red cube
WERROR     ?= ON

.PHONY: all deps build run test test-asan bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DVKD_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Text to 3D with the bundled ShapeWorld prior (models/shapeworld.json); outputs in out/<slug>.
run: build
	@OMP_WAIT_POLICY=PASSIVE $(BUILD)/vkdream generate "$(PROMPT)"

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory test-asan

# The unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVKD_SANITIZE=ON -DVKD_WERROR=$(WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

bench: build
	@$(BUILD)/vkdream info --bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
