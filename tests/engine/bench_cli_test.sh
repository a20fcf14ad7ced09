#!/usr/bin/env bash
# `vkllm bench` on a tiny synthesized model: it runs, reports positive rates for the requested
# lengths, and counts the weight bytes a decode step reads (all tensors but the untied embedding
# table, checked against the safetensors header). Timings themselves are not checked here.
set -euo pipefail
vkllm=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$vkllm" synth --family llama --preset tiny -o "$dir/m" > /dev/null
"$vkllm" bench "$dir/m" --prompt_tokens 20 --gen_tokens 5 --repeats 1 --ctx 64 --depths 40 --peak_bytes 16777216 \
  --profile --json > "$dir/out.json"
python3 - "$dir" <<'PY'
import json, struct, sys, os
d = sys.argv[1]
r = json.load(open(os.path.join(d, "out.json")))
assert r["prompt_tokens"] == 20 and r["gen_tokens"] == 5, r
assert r["prefill_tok_s"] > 0 and r["decode_tok_s"] > 0 and len(r["decode_tok_s_runs"]) == 1, r
assert r["time_to_first_token_ms"] > 0 and r["peak_read_gb_s"] > 0 and r["peak_copy_gb_s"] > 0, r
assert [d["prompt_tokens"] for d in r["decode_at_depth"]] == [40] and r["decode_at_depth"][0]["decode_tok_s"] > 0, r
cfg = json.load(open(os.path.join(d, "m", "config.json")))
f = open(os.path.join(d, "m", "model.safetensors"), "rb")
header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
expected = sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items()
               if k != "__metadata__" and (k != "model.embed_tokens.weight" or cfg.get("tie_word_embeddings")))
assert r["weight_bytes_per_token"] == expected, (r["weight_bytes_per_token"], expected)
# --profile: every dispatch of a prefill chunk and a decode step timed, grouped by kernel.
for step in ("prefill_chunk", "decode_step"):
    p = r["profile"][step]
    assert p["dispatches"] > 10 and p["total_us"] > 0, p
    assert sum(k["calls"] for k in p["kernels"]) == p["dispatches"], p
    assert any(k["kernel"].startswith("matmul_") for k in p["kernels"]), p
print("PASS", r["prefill_tok_s"], r["decode_tok_s"])
PY
