#!/usr/bin/env bash
# Tensor-core prefill kernels on the GPU machine (issue 9): tests, kernel timings, pp512. Run from the repository
# root after bench/gpu/run_suite.sh's setup (vkllm on PATH, test binaries on PATH or in .gpu/bin).
# Results under $OUT/coopmat/. About 4-6 minutes (most of it the llama3-8b synth + bench).
#
# Kernel selection (runtime/device.cpp, docs/CLI.md):
#   default (no env)        -> no tensor cores (f32 FMA tiled kernel)
#   VKLLM_COOPMAT=split     -> f32-faithful hi/lo f16 products (fails its tolerance on the H200 so far)
#   VKLLM_F16_MATMUL=1      -> "f16": same kernel, operands rounded to f16 (faster, less accurate)
#   VKLLM_COOPMAT=0         -> no tensor cores (f32 FMA tiled kernel)
#   VKLLM_COOPMAT=split:64x32 / f16:64x32 -> 64x32 subgroup blocks instead of the default 32x32
# Accuracy: `rel.err` in the matmul tables (max |err| / max |ref| vs the f32 reference): expect
# ~1e-6 for split (lavapipe emulation: <= 7.8e-7), ~2-3e-4 for f16.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}/coopmat
mkdir -p "$OUT"
export VKLLM_CACHE_DIR=${VKLLM_CACHE_DIR:-/tmp/vkllm-cache}
unset VKLLM_F16_MATMUL VKLLM_COOPMAT
T=$(command -v ops_kernels_test || echo .gpu/bin/ops_kernels_test)

# 1. Correctness of the real kernels: every variant (split, split:64x32, f16) pinned per case
#    (matmul_coopmat_<variant>_<shape>; the _emulated_ twins run the GLSL emulation), plus the
#    default the device picks (matmul_coopmat_default_*) and the FMA tiled cases.
timeout 240 "$T" --gtest_filter='*matmul_coopmat_*:*matmul_tiled_*' --gtest_output="json:$OUT/tests.json" \
  > "$OUT/tests.log" 2>&1
echo "coopmat tests: exit $? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/tests.log" | tr '\n' ' ')"
grep -E '^\[  FAILED  \]' "$OUT/tests.log" | head -20

# 2. Kernel microbench: llama3-8b / qwen3.5-9b projection shapes at 512 rows (us/call, rel.err vs
#    the f32 reference, kernel name). TFLOP/s = 2*N*K*512 / us / 1e6.
SHAPES=bf16:4096:4096:512,bf16:14336:4096:512,bf16:4096:14336:512,bf16:1024:4096:512,q4_0:14336:4096:512,q4_0:4096:14336:512,q4_0:4096:4096:512
for v in split f16 split:64x32 f16:64x32 0; do
  echo "== VKLLM_COOPMAT=$v"
  VKLLM_COOPMAT=$v timeout 60 vkllm bench --matmul "$SHAPES" --matmul_runs 10 --peak_bytes 0 \
    > "$OUT/matmul_${v/:/_}.txt" 2>&1
  cat "$OUT/matmul_${v/:/_}.txt" | tail -8
done

# 3. Model prefill (pp512) with the default (split) and the f16 variant.
WORK=${WORK:-/tmp/vkllm_bench}; dir="$WORK/llama-llama3-8b"; mkdir -p "$WORK"
[ -f "$dir/config.json" ] || vkllm synth --family llama --preset llama3-8b -o "$dir" --seed 7 > /dev/null
for v in split f16; do
  VKLLM_COOPMAT=$v timeout 150 vkllm bench "$dir" --prompt_tokens 512 --gen_tokens 16 --repeats 2 --ctx 528 --json \
    > "$OUT/bench_llama3-8b_$v.json" 2> "$OUT/bench_llama3-8b_$v.err"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], 'pp512', round(r['prefill_tok_s'],1), 'tok/s')" \
    "$OUT/bench_llama3-8b_$v.json" "$v" || tail -3 "$OUT/bench_llama3-8b_$v.err"
done
