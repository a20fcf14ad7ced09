#!/usr/bin/env bash
# Issue 9's performance table in one go on the GPU machine: synthesizes the checkpoints (random
# weights at real shapes), quantizes them at load and runs `vkllm bench` (batch 1) for every row,
# then prints the table with this engine's figures beside the llama.cpp CUDA anchors and the
# roofline (../shared/PERFORMANCE.md, H100) — the same columns as docs/PERFORMANCE.md.
#   qwen35-9b q4_0: tg128 and pp512 (one load)
#   llama3-8b q4_0: tg128, and tg128 after a 4096-token prompt (one load, --depths 4096)
# Results: $OUT/table.md, $OUT/bench-FAMILY-PRESET-QUANT.json (full reports, with --profile's per-kernel tables when
# PROFILE=1), $OUT/run.txt (commands, device, driver, commit). Run from the repository root with the
# bundle of bench/gpu/bundle.sh (.gpu.tar.xz or .gpu/), or with `vkllm` on PATH.
# Overrides: QUANT (q4_0), ROWS ("qwen35:qwen35-9b llama:llama3-8b"), TG (128), PP (512),
# DEPTH (4096), REPEATS (2), LIMIT_S (per bench command, 420).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
WORK=${WORK:-/tmp/vkllm_table}
mkdir -p "$OUT" "$WORK"
if ! command -v vkllm > /dev/null; then
  [ -d .gpu ] || tar xJf .gpu.tar.xz
  if [ -d .gl ] && ! ldconfig -p | grep -q libGLdispatch; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
  source .gpu/env.sh
fi
export VKLLM_CACHE_DIR=${VKLLM_CACHE_DIR:-/tmp/vkllm-cache}
QUANT=${QUANT:-q4_0}
TG=${TG:-128}
PP=${PP:-512}
DEPTH=${DEPTH:-4096}
{
  echo "date: $(date -u +%FT%TZ)"
  # The bundle's commit (bundle.sh) when there is one: a checkout copied to the GPU machine may carry a stale .git.
  echo "commit: $(cat .gpu/COMMIT 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)"
  vkllm doctor 2>&1 | grep -E "^\* |driver" | head -2
} > "$OUT/run.txt"

for item in ${ROWS:-qwen35:qwen35-9b llama:llama3-8b}; do
  IFS=: read -r family preset <<< "$item"
  dir="$WORK/$family-$preset"
  [ -f "$dir/config.json" ] || vkllm synth --family "$family" --preset "$preset" -o "$dir" --seed 7 > /dev/null
  depth_args=()
  ctx=$((PP + TG))
  # The long-context row is llama3-8b's (issue 9); other models get the short rows only.
  if [ "$family" = llama ] && [ "$DEPTH" -gt 0 ]; then depth_args=(--depths "$DEPTH"); ctx=$((DEPTH + TG)); fi
  cmd=(vkllm bench "$dir" --quant "$QUANT" --prompt_tokens "$PP" --gen_tokens "$TG" --repeats "${REPEATS:-2}"
       --ctx "$ctx" "${depth_args[@]}" ${PROFILE:+--profile} --json)
  echo "${cmd[*]}" >> "$OUT/run.txt"
  timeout "${LIMIT_S:-420}" "${cmd[@]}" > "$OUT/bench-$family-$preset-$QUANT.json" \
    2> "$OUT/bench-$family-$preset-$QUANT.err" \
    || { echo "$preset: bench failed (exit $?)"; tail -3 "$OUT/bench-$family-$preset-$QUANT.err"; }
done

python3 - "$OUT" "$QUANT" "$TG" "$PP" "$DEPTH" <<'PY' | tee "$OUT/table.md"
import glob, json, os, sys
out, quant, tg, pp, depth = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def load(family):  # the report of the row's family (bench-FAMILY-PRESET-QUANT.json)
    for f in glob.glob(os.path.join(out, f"bench-{family}-*-{quant}.json")):
        try:
            return json.load(open(f))
        except Exception:
            pass
    return None
q, l = load("qwen35"), load("llama")
def at_depth(r):
    for d in (r or {}).get("decode_at_depth", []):
        if d["prompt_tokens"] == depth:
            return d["decode_tok_s"]
    return None
def fmt(v):
    return "failed" if v is None else f"{v:.1f} tok/s"
# Anchors and rooflines: issue 9 (llama.cpp CUDA on the H100, ../shared/PERFORMANCE.md).
rows = [
    (f"Qwen3.5-9B, {quant}, tg{tg}", "253 tok/s", "~670 tok/s", ">= 560 tok/s", q and q["decode_tok_s"]),
    (f"Llama-3-8B layout, {quant}, tg{tg}", "313 tok/s", "~710 tok/s", ">= 600 tok/s", l and l["decode_tok_s"]),
    (f"same, at {depth} tokens of context", "288 tok/s", "-", "<= 10% below short", at_depth(l)),
    (f"prefill pp{pp}, Qwen3.5-9B {quant}", "8810 tok/s", "-", ">= 8800 tok/s", q and q["prefill_tok_s"]),
]
print("| model shape, quantization | llama.cpp CUDA | roofline | target | vkllm |")
print("| --- | --- | --- | --- | --- |")
for name, anchor, roof, target, ours in rows:
    print(f"| {name} | {anchor} | {roof} | {target} | {fmt(ours)} |")
for r in (q, l):
    if r:
        print(f"\n{r['model']}: {r['weight_bytes_per_token']/1e9:.2f} GB of weights per token, decode reads them at "
              f"{r['decode_weight_gb_s']:.0f} GB/s (measured read peak {r['peak_read_gb_s']:.0f} GB/s); "
              f"time to first token {r['time_to_first_token_ms']:.0f} ms")
PY
