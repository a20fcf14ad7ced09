#!/usr/bin/env bash
# `vkllm bench --matmul` (the kernel microbenchmark) and VKLLM_TUNE on tiny shapes: every shape x
# tuning variant is timed and checked against the reference, the kernel names and reported tunings
# follow the variants and the environment, -o writes the same report as --json, and bad shapes or
# tuning entries fail with a message naming them; with a warm-up the timed batch repeats (at least
# twice). Timings themselves are not checked here.
set -euo pipefail
vkllm=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
variants=";qmatvec.split=subgroup,qmatvec.stage=1,qmatvec.xstage=1,qmatvec.units=2"
"$vkllm" bench --matmul q4_0:37:512,bf16:9:256:3,qa4h_g64:11:256:2 --matmul_tune "$variants" --matmul_runs 3 --matmul_warmup_ms 0 \
  --matmul_copies 2 --peak_bytes 1048576 --json -o "$dir/report.json" > "$dir/out.json"
"$vkllm" bench --matmul q4_K:13:256:2 --matmul_prologue swiglu --matmul_runs 2 --matmul_warmup_ms 0 --peak_bytes 0 --json > "$dir/swiglu.json"
VKLLM_TUNE=qmatvec.rows=4,qmatvec.local=32 "$vkllm" bench --matmul q8_0:21:256 --matmul_runs 2 --matmul_warmup_ms 0 --peak_bytes 0 --json \
  > "$dir/env.json"
# With a warm-up, timed batches repeat until two medians agree within 3% (at most 8).
"$vkllm" bench --matmul q4_0:16:256 --matmul_runs 2 --matmul_warmup_ms 1 --peak_bytes 0 --json > "$dir/warm.json"
expect_error() {  # MESSAGE COMMAND...: the command fails and prints MESSAGE
  local message=$1; shift
  if "$@" > "$dir/err.txt" 2>&1; then echo "FAIL: '$*' succeeded"; exit 1; fi
  grep -q -- "$message" "$dir/err.txt" || { echo "FAIL: '$*' did not say '$message':"; cat "$dir/err.txt"; exit 1; }
}
expect_error "unknown dtype 'q4'" "$vkllm" bench --matmul q4:8:64
expect_error "DTYPE:N:K" "$vkllm" bench --matmul q4_0:8
expect_error "not a multiple of the 32-value block" "$vkllm" bench --matmul q4_0:8:48
expect_error "unknown field 'bogus'" env VKLLM_TUNE=qmatvec.bogus=1 "$vkllm" bench --matmul q4_0:8:64
expect_error "unknown kind 'foo'" env VKLLM_TUNE=foo.rows=2 "$vkllm" bench --matmul q4_0:8:64
expect_error "a power of two" "$vkllm" bench --matmul q4_0:8:64 --matmul_tune "qmatvec.rows=3"
expect_error "split is workgroup or subgroup" "$vkllm" bench --matmul q4_0:8:64 --matmul_tune "matvec.split=warp"
expect_error "in 1..64" "$vkllm" bench --matmul q4_0:8:64 --matmul_tune "qmatvec.xchunk=65"
python3 - "$dir" <<'PY'
import json, sys, os
d = sys.argv[1]
r = json.load(open(os.path.join(d, "out.json")))
assert r == json.load(open(os.path.join(d, "report.json"))), "-o and --json differ"
assert r["peak_read_gb_s"] > 0 and r["runs"] == 3, r
res = r["results"]
assert [(x["shape"], x["tune"]) for x in res] == [(s, v) for s in ("q4_0:37:512", "bf16:9:256:3", "qa4h_g64:11:256:2")
                                                  for v in ("", "qmatvec.split=subgroup,qmatvec.stage=1,qmatvec.xstage=1,qmatvec.units=2")], res
bytes_of = {"q4_0:37:512": 37 * 512 // 32 * 18, "bf16:9:256:3": 9 * 256 * 2, "qa4h_g64:11:256:2": 11 * 256 // 64 * 36}
for x in res:
    assert "error" not in x and x["ok"] and x["max_rel_error"] < 1e-4, x
    assert x["us"] > 0 and x["us_min"] <= x["us"] and x["weight_gb_s"] > 0 and x["copies"] == 2, x
    assert x["weight_bytes"] == bytes_of[x["shape"]], x
    assert x["percent_of_read_peak"] > 0, x
    quantized = x["dtype"] != "bf16"
    assert ("_qmatvec" if quantized else "_matvec") in x["kernel"], x
    tuned = quantized and x["tune"] != ""  # qmatvec.* variants leave float weights alone
    assert (x["kernel"].endswith("v2sgwsxs") if tuned else x["kernel"].endswith("v1wg")), x
    assert x["tuning"] == ("rows=0,local=0,units=2,split=subgroup,stage=1,xstage=1,xchunk=0" if tuned
                           else "rows=0,local=0,units=1,split=workgroup,stage=0,xstage=0,xchunk=0"), x
s = json.load(open(os.path.join(d, "swiglu.json")))
assert s["prologue"] == "swiglu" and s["results"][0]["ok"], s
assert s["results"][0]["kernel"].startswith("fused_matmul") and s["results"][0]["kernel"].endswith("_swiglu"), s
e = json.load(open(os.path.join(d, "env.json")))
assert e["vkllm_tune"] == "qmatvec.rows=4,qmatvec.local=32", e
assert e["results"][0]["tuning"] == "rows=4,local=32,units=1,split=workgroup,stage=0,xstage=0,xchunk=0", e
assert "_qmatvec1x4u64_l32v1wg" in e["results"][0]["kernel"] and e["results"][0]["ok"], e
assert all(x["batches"] == 1 for x in res), res  # no warm-up: one batch
w = json.load(open(os.path.join(d, "warm.json")))["results"][0]
assert w["ok"] and 2 <= w["batches"] <= 8, w
print("PASS", len(res), "variants timed")
PY
