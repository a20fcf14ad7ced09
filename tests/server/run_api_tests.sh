#!/bin/bash
# ctest entry of the node suites: installs the SDKs from the committed lockfile into the build dir
# (npm ci, only when missing or the lockfile changed), then runs node's test runner on the given files.
# Usage: run_api_tests.sh VKLLM_BINARY WORK_DIR TEST_FILE...
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
export VKLLM=$1 VKLLM_TEST_DIR=$2
shift 2
npm_dir=$VKLLM_TEST_DIR/npm
mkdir -p "$npm_dir"
# One installer at a time when ctest runs several suites in parallel.
exec 9>"$npm_dir/.lock"
flock 9
if [ ! -d "$npm_dir/node_modules" ] || ! cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json"; then
  cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
flock -u 9
export NODE_PATH=$npm_dir/node_modules
files=()
for f in "$@"; do files+=("$src/$f"); done
exec node --test --test-concurrency=1 "${files[@]}"
