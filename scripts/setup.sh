#!/usr/bin/env bash
# Installs every Debian package that building and testing vkllm needs. Idempotent: packages already
# present are skipped, so running it on every `make` costs a dpkg query, not a download.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libvulkan-dev mesa-vulkan-drivers vulkan-tools    # Vulkan loader + headers, lavapipe (CPU driver)
  libvulkan-volk-dev                                # volk: opens the Vulkan loader at run time
  vulkan-validationlayers                           # VKLLM_VALIDATION=1: Khronos validation in runtime tests
  glslang-dev glslang-tools                         # GLSL -> SPIR-V in process
  spirv-tools spirv-headers                         # SPIR-V optimizer, validator, disassembler
  libfmt-dev libgflags-dev nlohmann-json3-dev       # formatting, CLI flags, JSON
  libcpp-httplib-dev libssl-dev zlib1g-dev          # HTTP server (httplib links against these)
  libpcre2-dev libsentencepiece-dev libicu-dev      # tokenizer regexes, SentencePiece models, Unicode normalization
  libgtest-dev libgmock-dev llvm-15-tools           # GoogleTest, FileCheck
  clang libclang-rt-14-dev                          # libFuzzer targets
  python3-jinja2                                    # chat template references rendered as transformers does
  chromium                                          # the server's chat page, tested headless (DevTools pipe)
)

missing=()
# Node.js runs the reference tokenizers and the SDK clients in tests; use the machine's own if present.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
