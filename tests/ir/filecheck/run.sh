#!/bin/sh
# Runs `vkllm opt` on a FileCheck test file and checks what it prints (stdout and stderr together).
# A file with `// ERR` lines expects vkllm to fail with exit status 1 and is checked against those
# lines (--check-prefix=ERR); any other file expects success and is checked against its CHECK lines.
#   usage: run.sh VKLLM FILECHECK FILE.ir [vkllm opt arguments...]
set -u
vkllm=$1 filecheck=$2 file=$3
shift 3
output=$("$vkllm" opt "$@" "$file" 2>&1)
status=$?
if grep -q '// ERR' "$file"; then
  prefix=ERR expected=1
else
  prefix=CHECK expected=0
fi
if [ "$status" -ne "$expected" ]; then
  printf 'vkllm opt exited with status %s, expected %s. It printed:\n%s\n' "$status" "$expected" "$output" >&2
  exit 1
fi
printf '%s\n' "$output" | "$filecheck" --match-full-lines --check-prefix="$prefix" "$file"
