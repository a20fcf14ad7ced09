#!/usr/bin/env bash
# `vkllm serve` under 1, 4, 16 and 64 concurrent streaming clients on the GPU machine: synthesize the
# checkpoint, start the server on a free port, run bench/server/load_bench.py, stop the server.
# Usage: SERVE_MODEL=llama:llama3-8b MAX_BATCH=16 OUT=dir bash bench/gpu/run_server_bench.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
WORK=${WORK:-/tmp/vkllm_bench}
mkdir -p "$OUT" "$WORK"
[ -d .gpu ] || tar xJf .gpu.tar.xz
if [ -d .gl ] && ! ldconfig -p | grep -q libGLdispatch; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
source .gpu/env.sh
export VKLLM_CACHE_DIR=${VKLLM_CACHE_DIR:-/tmp/vkllm-cache}
item=${SERVE_MODEL:-llama:llama3-8b}; family=${item%%:*}; preset=${item#*:}; dir="$WORK/$family-$preset"
[ -f "$dir/config.json" ] || vkllm synth --family "$family" --preset "$preset" -o "$dir" --seed 7 > /dev/null
vkllm serve "$dir" --port 0 --alias bench --max_batch ${MAX_BATCH:-16} --ctx ${CTX:-1024} 2> "$OUT/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for i in $(seq 900); do grep -q "listening on" "$OUT/serve.log" && break; kill -0 $pid || { tail "$OUT/serve.log"; exit 1; }; sleep 0.2; done
url=$(grep -o 'http://[0-9.:]*' "$OUT/serve.log" | head -1)
python3 bench/server/load_bench.py --url "$url" --model bench --levels ${LEVELS:-1,4,16,64} \
  --max-tokens ${MAX_TOKENS:-64} --requests-per-client ${REQUESTS:-1} --out "$OUT/server_load_$preset.jsonl"
