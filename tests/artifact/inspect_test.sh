#!/bin/sh
# `vkllm compile` and `vkllm inspect` end to end on a tiny synthesized llama (no device needed:
# --target lavapipe). Each view's output is checked with FileCheck against the prefixes of
# inspect.check; two compiles must be byte-identical; a damaged artifact must be a clear error.
#   usage: inspect_test.sh VKLLM FILECHECK inspect.check
set -eu
vkllm=$1 filecheck=$2 checks=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$vkllm" synth --family llama --preset tiny --seed 7 -o "$dir/model" >/dev/null
"$vkllm" compile "$dir/model" -o "$dir/a.vkm" --target lavapipe --ctx 64 --max_batch 2 --spec_depths 3 2>"$dir/compile.log"
"$vkllm" compile "$dir/model" -o "$dir/b.vkm" --target lavapipe --ctx 64 --max_batch 2 --spec_depths 3 2>/dev/null
cmp "$dir/a.vkm" "$dir/b.vkm"

check() {  # check PREFIX vkllm-arguments...
  prefix=$1
  shift
  "$vkllm" "$@" >"$dir/out" 2>&1 || { echo "vkllm $* failed:" >&2; cat "$dir/out" >&2; exit 1; }
  "$filecheck" --check-prefix="$prefix" "$checks" <"$dir/out"
}
"$filecheck" --check-prefix=COMPILE "$checks" <"$dir/compile.log"
check SUMMARY inspect "$dir/a.vkm"
check JSON inspect "$dir/a.vkm" --json
check KERNELS inspect "$dir/a.vkm" --kernels --graph decode_b2
check KERNELS1 inspect "$dir/a.vkm" --kernels --graph decode_b1
check KERNEL inspect "$dir/a.vkm" --kernel 0
check GLSL inspect "$dir/a.vkm" --kernel 0 --glsl
check SPIRV inspect "$dir/a.vkm" --kernel 0 --spirv
check GRAPH inspect "$dir/a.vkm" --graph decode_logits_b2
check AFTER inspect "$dir/a.vkm" --graph decode_b2 --dump_after all
check FOLDER inspect "$dir/model" --target lavapipe --ctx 64 --max_batch 4 --batch_sizes 2
"$vkllm" inspect "$dir/a.vkm" --dump "$dir/dump" 2>/dev/null
ls "$dir/dump" "$dir/dump/graphs" "$dir/dump/passes/decode_b2" | "$filecheck" --check-prefix=DUMP "$checks"
if "$vkllm" inspect "$dir/a.vkm" --graph decode >"$dir/out" 2>&1; then echo "a graph that is not there was shown" >&2; exit 1; fi
"$filecheck" --check-prefix=NOGRAPH "$checks" <"$dir/out"

# Damaged artifacts: truncated, and one byte of the manifest changed.
size=$(wc -c <"$dir/a.vkm")
head -c $((size - 100)) "$dir/a.vkm" >"$dir/short.vkm"
if "$vkllm" inspect "$dir/short.vkm" >"$dir/out" 2>&1; then echo "a truncated artifact was accepted" >&2; exit 1; fi
"$filecheck" --check-prefix=TRUNCATED "$checks" <"$dir/out"
cp "$dir/a.vkm" "$dir/flipped.vkm"
printf 'X' | dd of="$dir/flipped.vkm" bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null
if "$vkllm" inspect "$dir/flipped.vkm" >"$dir/out" 2>&1; then echo "a corrupt artifact was accepted" >&2; exit 1; fi
"$filecheck" --check-prefix=CORRUPT "$checks" <"$dir/out"
