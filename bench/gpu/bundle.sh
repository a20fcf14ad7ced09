#!/usr/bin/env bash
# Makes .gpu/: the vkllm binary and the GPU test binaries (debug info stripped to fit the 64 MiB
# the device tool carries), their non-system libraries and the Vulkan loader. Needs the shared
# bundler of the development environment (../shared/gpu/bundle.sh); run from the repository root
# after `make build`.
set -euo pipefail
build=${1:-build}
rm -rf .gpu .gpu.tar.xz /tmp/vkllm-gpu-bin && mkdir -p /tmp/vkllm-gpu-bin
bins=("$build/vkllm" "$build/tests/ops/ops_kernels_test" "$build/tests/runtime/graph_executor_test"
      "$build/tests/runtime/pipeline_test" "$build/tests/runtime/allocator_test" "$build/tests/engine/engine_model_test"
      "$build/tests/engine/engine_qwen35_test" "$build/tests/engine/engine_sampling_test"
      "$build/tests/engine/engine_quantized_model_test" "$build/tests/engine/engine_qwen3_next_test")
for b in "${bins[@]}"; do strip --strip-debug -o "/tmp/vkllm-gpu-bin/$(basename "$b")" "$b"; done
../shared/gpu/bundle.sh .gpu /tmp/vkllm-gpu-bin/*
# The NVIDIA Vulkan driver is reached through libGLX_nvidia, which needs glvnd (libGLdispatch,
# libGLX): without it vkCreateInstance finds no driver. The GPU image has neither, so carry the
# Debian packages (.gl/, ~400 KiB) and let run_suite.sh unpack them.
mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
[ -n "$(ls .gl/*.deb 2>/dev/null)" ] || { apt-get $o update -q >/dev/null; (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2); }
# The commit the binaries were built from (the GPU machine gets no .git): results name it.
echo "$(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo ' + uncommitted changes')" > .gpu/COMMIT
# Binaries compress about 3x; the device tool carries at most 64 MiB.
tar cJf .gpu.tar.xz .gpu
du -sh .gpu .gpu.tar.xz
