#!/usr/bin/env bash
# `vkllm doctor` on a machine without a Vulkan loader: vkllm's own message and exit status 1, not the
# dynamic linker refusing to start the program. The loader is hidden by bind-mounting an empty file
# over it in a private mount namespace (needs root or user namespaces; otherwise skipped, exit 77).
set -u
vkllm=$1
loader=$(ldconfig -p | awk '/libvulkan\.so\.1 / {print $NF; exit}')
[ -n "$loader" ] || { echo "no libvulkan.so.1 registered with ldconfig"; exit 77; }
unshare -m true 2>/dev/null || { echo "cannot create a mount namespace here"; exit 77; }
out=$(unshare -m bash -c "mount --bind /dev/null '$loader' && '$vkllm' doctor" 2>&1)
status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "FAIL: expected exit status 1, got $status"; exit 1; }
grep -q "no Vulkan loader: libvulkan.so.1 could not be opened" <<<"$out" || { echo "FAIL: message"; exit 1; }
echo PASS
