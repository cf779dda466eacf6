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

# Text to 3D. Until the bundled ShapeWorld prior is trained, this uses the oracle prior of
# the prompt's ShapeWorld object (exact, no training; ShapeWorld prompts only).
run: build
	@echo "vkdream: using the ShapeWorld oracle prior (--prior oracle) until the bundled prior is trained"
	@OMP_WAIT_POLICY=PASSIVE $(BUILD)/vkdream generate "$(PROMPT)" --prior oracle

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
