#!/usr/bin/env bash
# Throughput on the GPU machine: for each family:preset, synthesize the checkpoint (random bf16
# weights at real shapes) and run `vkllm bench` (pp/tg tok/s, weight GB/s). Results: $OUT/bench.jsonl
# and a table on stdout. DEPTHS=4096 also decodes after a 4096-token prompt. Usage: BENCH="llama:llama3-8b qwen35:qwen35-9b" OUT=dir bash bench/gpu/run_bench.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
WORK=${WORK:-/tmp/vkllm_bench}
mkdir -p "$OUT" "$WORK"
[ -d .gpu ] || tar xJf .gpu.tar.xz
if [ -d .gl ] && ! ldconfig -p | grep -q libGLdispatch; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
source .gpu/env.sh
export VKLLM_CACHE_DIR=${VKLLM_CACHE_DIR:-/tmp/vkllm-cache}
# An item is family:preset[:quant] (quant: a --quant value, e.g. q4 or q8_0, applied at load).
for item in ${BENCH:-llama:llama3-8b}; do
  IFS=: read -r family preset quant <<< "$item"; dir="$WORK/$family-$preset"
  [ -f "$dir/config.json" ] || vkllm synth --family "$family" --preset "$preset" -o "$dir" --seed 7 > /dev/null
  name=$preset${quant:+-$quant}
  timeout 300 vkllm bench "$dir" ${quant:+--quant $quant} --prompt_tokens ${PP:-512} --gen_tokens ${TG:-128} \
    --repeats ${REPEATS:-3} --ctx $(( ${DEPTHS:-${PP:-512}} > ${PP:-512} ? ${DEPTHS:-0} + ${TG:-128} : ${PP:-512} + ${TG:-128} )) \
    ${DEPTHS:+--depths $DEPTHS} ${PROFILE:+--profile} --json \
    > "$OUT/bench-$name.json" 2> "$OUT/bench-$name.err"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r['preset']=sys.argv[2]; print(json.dumps(r))" \
    "$OUT/bench-$name.json" "$name" >> "$OUT/bench.jsonl" 2>/dev/null \
    || { echo "$name: FAILED"; tail -3 "$OUT/bench-$name.err"; continue; }
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{sys.argv[2]:14s} pp{r['prompt_tokens']} {r['prefill_tok_s']:9.1f} tok/s  tg{r['gen_tokens']} {r['decode_tok_s']:8.2f} tok/s  {r['weight_bytes_per_token']/1e9:6.2f} GB/token  {r['decode_weight_gb_s']:7.1f} GB/s\")" "$OUT/bench-$name.json" "$name"
done
