#!/usr/bin/env bash
# The GPU machine's whole job in one call, from the repository root, with the bundle made by
# bench/gpu/bundle.sh in .gpu/: device report, the op/runtime/engine test suites through the
# NVIDIA Vulkan driver, per-kernel times of a real-shape transformer block, and logits parity with
# HF transformers. Results go to $OUT (or ./gpu-out).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
[ -d .gpu ] || tar xJf .gpu.tar.xz
# The NVIDIA ICD (libGLX_nvidia) needs the glvnd libraries, which the GPU image lacks: unpack the
# Debian packages bundle.sh downloaded into .gl/.
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
source .gpu/env.sh
export VKLLM_CACHE_DIR=/tmp/vkllm-cache
vkllm doctor --json > "$OUT/doctor.json" 2>&1; vkllm doctor 2>&1 | tail -25
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1
for t in ops_kernels_test graph_executor_test pipeline_test allocator_test engine_model_test engine_qwen35_test engine_qwen3_next_test \
         engine_sampling_test engine_quantized_model_test; do
  [ -x ".gpu/bin/$t" ] || continue
  # Every suite runs the device's default prefill kernels (tensor cores: the f32-faithful "split"
  # kernel); ops_kernels_test also runs each cooperative-matrix variant by name.
  unset VKLLM_F16_MATMUL VKLLM_COOPMAT
  timeout 300 ".gpu/bin/$t" --gtest_output="json:$OUT/$t.json" > "$OUT/$t.log" 2>&1
  echo "$t: exit $? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/$t.log" | tr '\n' ' ')"
done
# Real-shape block: checked against the reference at seq=1, timed per kernel at 1 and 512 rows.
timeout 120 vkllm exec examples/llama_block_4096.ir --bind seq=1 --check --profile > "$OUT/block4096_seq1.txt" 2>&1
echo "block4096 seq=1: $(tail -1 "$OUT/block4096_seq1.txt")"
timeout 120 vkllm exec examples/llama_block_4096.ir --bind seq=512 --profile > "$OUT/block4096_seq512.txt" 2>&1
echo "block4096 seq=512: $(grep total "$OUT/block4096_seq512.txt")"
if [ "${PARITY:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 420 python3 bench/parity/hf_parity.py --vkllm "$(command -v vkllm)" --out "$OUT/parity.json" ${PARITY_ONLY:+--only $PARITY_ONLY} 2>&1 | tail -12
fi
