# Entry points. Each target installs what it needs (scripts/setup.sh is idempotent) and builds.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: setup build demo test clean

setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# The main job, for now: check the Vulkan device, then compile a small graph to SPIR-V kernels,
# run it on the device and compare every output with the reference executor.
demo: build
	$(BUILD)/vkllm doctor
	$(BUILD)/vkllm exec examples/transformer_block.ir --bind seq=9 --check

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

clean:
	rm -rf $(BUILD)
