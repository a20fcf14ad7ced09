#!/usr/bin/env bash
# Matvec tuning sweep (issue 9). Runs on the GPU machine with `vkllm` on PATH (DTYPES: the quantized
# dtypes to sweep, WARMUP_MS: --matmul_warmup_ms); writes
# one JSON file per dtype/prologue to $OUT (plus the text table: NAME.txt; about 9.5 min at most) (each: device, measured peaks, and per shape x tuning
# variant: kernel name, tuning, us per call, weight GB/s, % of the read peak, max relative error vs
# the reference executor). Llama-3-8B decode shapes (N:K): q/o 4096:4096, k/v 1024:4096,
# gate/up 14336:4096, down 4096:14336. Every variant is on top of the device's defaults; the empty
# variant is the default itself. Each command is bounded so a slow one cannot eat the whole run.
set -u
OUT=${OUT:-./sweep-out}
mkdir -p "$OUT"
vkllm doctor > "$OUT/doctor.txt" 2>&1 || true

# Quantized variants (qmatvec.*): workgroup-split rows (today's kernel) vs subgroup-owned rows,
# units per lane, rows per group, local size, staged weights (ws) and staged x (xs, in chunks of
# xchunk KiB: 28 puts a 4096-column q4_0 row in one chunk).
Q="qmatvec"
QV=""
QV+=";$Q.rows=8"
QV+=";$Q.units=2"
QV+=";$Q.split=subgroup"
QV+=";$Q.split=subgroup,$Q.units=2"
QV+=";$Q.split=subgroup,$Q.rows=8"
QV+=";$Q.split=subgroup,$Q.stage=1"
QV+=";$Q.split=subgroup,$Q.xstage=1"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.units=2"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.rows=8"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.rows=2,$Q.units=2"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.local=256"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.local=64"
QV+=";$Q.split=subgroup,$Q.xstage=1,$Q.rows=8"
QV+=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.xchunk=28"
F="fmatvec"
FV=";$F.rows=4;$F.units=2;$F.split=subgroup;$F.split=subgroup,$F.units=2;$F.split=subgroup,$F.xstage=1;$F.split=subgroup,$F.xstage=1,$F.rows=8"

SHAPES=${SHAPES:-"14336:4096,4096:14336,4096:4096,1024:4096"}  # most important first
shapes_of() { local d=$1 s out=""; for s in ${SHAPES//,/ }; do out+="${out:+,}$d:$s"; done; echo "$out"; }

bench() {  # NAME LIMIT_S ARGS...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  # -o: the JSON is rewritten after every result, so a command cut off by its limit keeps what it measured.
  timeout "$limit" vkllm bench --matmul_runs 10 --matmul_warmup_ms ${WARMUP_MS:-300} -o "$OUT/$name.json" "$@" > "$OUT/$name.txt" 2> "$OUT/$name.err"
  echo "$name: rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/summary.txt"
}

# The measured read peak once (1 GiB read and copy kernels; every later file's % is against it), with
# the default q4_0 gate/up kernel. The defaults of every shape are the empty variant of each run below.
bench peak 45 --peak_bytes ${PEAK_BYTES:-1073741824} --matmul "q4_0:${SHAPES%%,*}"
for d in ${DTYPES:-q4_0 q4_K q8_0 qa4h_g64}; do
  bench "$d" 95 --peak_bytes 0 --matmul "$(shapes_of $d)" --matmul_tune "$QV"
done
bench bf16 45 --peak_bytes 0 --matmul "$(shapes_of bf16)" --matmul_tune "$FV"
# Fused prologues as decode graphs run them: rms_norm before q/k/v and gate/up, swiglu before down.
PV=";$Q.split=subgroup,$Q.stage=1,$Q.xstage=1;$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.xchunk=28;$Q.split=subgroup,$Q.stage=1,$Q.xstage=1,$Q.units=2;$Q.split=subgroup,$Q.units=2"
bench q4_0_rms_norm 35 --peak_bytes 0 --matmul_prologue rms_norm --matmul ${PROLOGUE_UP:-q4_0:14336:4096,q4_K:14336:4096} --matmul_tune "$PV"
bench q4_0_swiglu 35 --peak_bytes 0 --matmul_prologue swiglu --matmul ${PROLOGUE_DOWN:-q4_0:4096:14336,q4_K:4096:14336} --matmul_tune "$PV"

# Per file and shape: the default and the three fastest correct variants (also printed).
if command -v python3 > /dev/null; then
  python3 - "$OUT" <<'PY' | tee "$OUT/best.txt"
import glob, json, os, sys
out = sys.argv[1]
peak = 0
try:
    peak = json.load(open(os.path.join(out, "peak.json")))["peak_read_gb_s"]
except Exception:
    pass
print(f"measured read peak: {peak:.0f} GB/s")
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    try:
        rs = json.load(open(f))["results"]
    except Exception as e:
        print(f, "unreadable:", e)
        continue
    for shape in dict.fromkeys(r["shape"] for r in rs):
        ok = [r for r in rs if r["shape"] == shape and r.get("ok")]
        failed = [r for r in rs if r["shape"] == shape and not r.get("ok")]
        if not ok:
            continue
        default = next((r for r in ok if r["tune"] == ""), None)
        print(f"{os.path.basename(f)} {shape} ({ok[0].get('prologue', 'none')}): {len(ok)} ok, {len(failed)} failed")
        for tag, r in [("default", default)] + [("best", r) for r in sorted(ok, key=lambda r: r["us"])[:3]]:
            if r:
                pct = f"{100 * r['weight_gb_s'] / peak:.0f}%" if peak else "-"
                print(f"  {tag:8} {r['us']:8.2f} us {r['weight_gb_s']:7.0f} GB/s {pct:>4}  {r['tune'] or '(default)'}  {r['kernel']}")
PY
fi
