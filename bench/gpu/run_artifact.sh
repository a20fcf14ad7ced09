#!/usr/bin/env bash
# Compile time and load time of a .vkm artifact on the GPU machine (issue 7), against loading the
# model folder. For each family:preset: synthesize the checkpoint (random bf16 weights, real shapes),
#   - compile it twice (`vkllm compile`: cold kernel cache, then warm), checking the two are identical;
#   - time to the first token (`vkllm run --max_tokens 1`: load + upload + one prefill) from the
#     artifact with its file evicted from the page cache (cold) and cached (warm), and from the folder
#     (kernel cache warm: what a second `vkllm run FOLDER` costs).
# Results: $OUT/artifact.jsonl and a table on stdout.
# Usage: BENCH="qwen35:qwen35-9b llama:llama3-8b" OUT=dir bash bench/gpu/run_artifact.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
WORK=${WORK:-/tmp/vkllm_bench}
mkdir -p "$OUT" "$WORK"
[ -d .gpu ] || tar xJf .gpu.tar.xz
if [ -d .gl ] && ! ldconfig -p | grep -q libGLdispatch; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
source .gpu/env.sh
CTX=${CTX:-4096}
BATCH=${BATCH:-4}

seconds() { python3 -c 'import time; print(time.monotonic())'; }
evict() { python3 -c 'import os,sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"; }
timed() {  # timed LOG command...: prints the wall seconds, the command's output goes to LOG
  local log=$1; shift
  local t0 t1; t0=$(seconds); "$@" > "$log" 2>&1 || { echo "FAILED: $*" >&2; tail -3 "$log" >&2; echo -1; return; }
  t1=$(seconds); python3 -c "print(round($t1 - $t0, 3))"
}

for item in ${BENCH:-qwen35:qwen35-9b}; do
  family=${item%%:*}; preset=${item#*:}; dir="$WORK/$family-$preset"; vkm="$WORK/$family-$preset.vkm"
  [ -f "$dir/config.json" ] || vkllm synth --family "$family" --preset "$preset" -o "$dir" --seed 7 > /dev/null
  export VKLLM_CACHE_DIR=$(mktemp -d)
  compile_cold=$(timed "$OUT/compile-$preset.log" vkllm compile "$dir" -o "$vkm" --ctx "$CTX" --max_batch "$BATCH")
  compile_warm=$(timed "$OUT/compile2-$preset.log" vkllm compile "$dir" -o "$vkm.2" --ctx "$CTX" --max_batch "$BATCH")
  identical=$(cmp -s "$vkm" "$vkm.2" && echo true || echo false); rm -f "$vkm.2"
  evict "$vkm"
  load_cold=$(timed "$OUT/run-cold-$preset.log" vkllm run "$vkm" --prompt "Hello" --max_tokens 1)
  load_warm=$(timed "$OUT/run-warm-$preset.log" vkllm run "$vkm" --prompt "Hello" --max_tokens 1)
  folder_warm=$(timed "$OUT/run-folder-$preset.log" vkllm run "$dir" --prompt "Hello" --max_tokens 1 --ctx "$CTX")
  bytes=$(stat -c %s "$vkm")
  echo "{\"preset\": \"$preset\", \"artifact_bytes\": $bytes, \"compile_s_cold_kernel_cache\": $compile_cold, \"compile_s_warm_kernel_cache\": $compile_warm, \"identical\": $identical, \"first_token_s_artifact_cold_file\": $load_cold, \"first_token_s_artifact_warm_file\": $load_warm, \"first_token_s_folder\": $folder_warm}" | tee -a "$OUT/artifact.jsonl"
  rm -rf "$VKLLM_CACHE_DIR"
done
