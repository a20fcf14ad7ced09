#include "codegen/glsl_compiler.h"

#include <fmt/format.h>
#include <glslang/Public/ResourceLimits.h>
#include <glslang/Public/ShaderLang.h>
#include <glslang/SPIRV/GlslangToSpv.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <cstring>
#include <unistd.h>
#include <spirv-tools/libspirv.hpp>
#include <spirv-tools/optimizer.hpp>

namespace vkllm::codegen {
namespace {

constexpr spv_target_env kTargetEnv = SPV_ENV_VULKAN_1_2;
// Bump when the compile pipeline changes so stale cache entries are never reused.
constexpr const char* kCacheVersion = "vkllm-spv-cache-1";

std::once_flag glslang_init;

std::string numbered(const std::string& src) {
  std::istringstream in(src);
  std::string line, out;
  for (int n = 1; std::getline(in, line); ++n) out += fmt::format("{:4} | {}\n", n, line);
  return out;
}

// FNV-1a 64: a content hash for cache keys (collisions only cost a recompile check: the cached
// file stores the full source, compared before use).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<uint32_t> compile_uncached(const std::string& source, const CompileOptions& opts) {
  std::call_once(glslang_init, [] { glslang::InitializeProcess(); });
  glslang::TShader shader(EShLangCompute);
  const char* text = source.c_str();
  shader.setStrings(&text, 1);
  shader.setEnvInput(glslang::EShSourceGlsl, EShLangCompute, glslang::EShClientVulkan, 100);
  shader.setEnvClient(glslang::EShClientVulkan, glslang::EShTargetVulkan_1_2);
  shader.setEnvTarget(glslang::EShTargetSpv, glslang::EShTargetSpv_1_5);
  auto messages = static_cast<EShMessages>(EShMsgSpvRules | EShMsgVulkanRules);
  if (!shader.parse(GetDefaultResources(), 460, false, messages))
    throw CompileError(fmt::format("GLSL compile failed:\n{}\n{}", shader.getInfoLog(), numbered(source)));
  glslang::TProgram program;
  program.addShader(&shader);
  if (!program.link(messages))
    throw CompileError(fmt::format("GLSL link failed:\n{}\n{}", program.getInfoLog(), numbered(source)));
  std::vector<uint32_t> spirv;
  glslang::SpvOptions spv_opts;
  spv_opts.validate = false;  // SPIRV-Tools validates below
  glslang::GlslangToSpv(*program.getIntermediate(EShLangCompute), spirv, &spv_opts);

  std::string diag;
  auto consumer = [&diag](spv_message_level_t, const char*, const spv_position_t& pos, const char* msg) {
    diag += fmt::format("  at word {}: {}\n", pos.index, msg);
  };
  spvtools::SpirvTools tools(kTargetEnv);
  tools.SetMessageConsumer(consumer);
  if (!tools.Validate(spirv))
    throw CompileError(fmt::format("generated SPIR-V is invalid:\n{}\n{}", diag, numbered(source)));
  if (opts.optimize) {
    spvtools::Optimizer opt(kTargetEnv);
    opt.SetMessageConsumer(consumer);
    opt.RegisterPerformancePasses();
    std::vector<uint32_t> optimized;
    if (!opt.Run(spirv.data(), spirv.size(), &optimized))
      throw CompileError(fmt::format("SPIR-V optimizer failed:\n{}", diag));
    if (!tools.Validate(optimized))
      throw CompileError(fmt::format("optimized SPIR-V is invalid:\n{}\n{}", diag, numbered(source)));
    spirv = std::move(optimized);
  }
  return spirv;
}

}  // namespace

std::string kernel_cache_dir() {
  if (const char* d = std::getenv("VKLLM_CACHE_DIR")) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/vkllm";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/vkllm";
  return "";
}

std::vector<uint32_t> compile_glsl(const std::string& source, const CompileOptions& opts) {
  namespace fs = std::filesystem;
  const std::string dir = kernel_cache_dir();
  const std::string key_text = fmt::format("{}\n{}\n{}", kCacheVersion, opts.optimize, source);
  fs::path entry;
  if (!dir.empty()) {
    entry = fs::path(dir) / "kernels" / fmt::format("{:016x}.spv", fnv1a(key_text));
    std::ifstream in(entry, std::ios::binary);
    if (in) {
      // Layout: u64 key length, key bytes, SPIR-V words.
      uint64_t key_len = 0;
      in.read(reinterpret_cast<char*>(&key_len), sizeof key_len);
      if (in && key_len == key_text.size()) {
        std::string key(key_len, '\0');
        in.read(key.data(), static_cast<std::streamsize>(key_len));
        if (in && key == key_text) {
          std::vector<char> rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          if (!rest.empty() && rest.size() % 4 == 0) {
            std::vector<uint32_t> words(rest.size() / 4);
            std::memcpy(words.data(), rest.data(), rest.size());
            return words;
          }
        }
      }
    }
  }
  std::vector<uint32_t> spirv = compile_uncached(source, opts);
  if (!entry.empty()) {
    std::error_code ec;
    fs::create_directories(entry.parent_path(), ec);
    // Write to a temporary name and rename, so concurrent processes never read a partial file.
    fs::path tmp = entry;
    tmp += fmt::format(".tmp{}", static_cast<unsigned long>(::getpid()));
    {
      std::ofstream out(tmp, std::ios::binary);
      uint64_t key_len = key_text.size();
      out.write(reinterpret_cast<const char*>(&key_len), sizeof key_len);
      out.write(key_text.data(), static_cast<std::streamsize>(key_text.size()));
      out.write(reinterpret_cast<const char*>(spirv.data()), static_cast<std::streamsize>(spirv.size() * 4));
    }
    fs::rename(tmp, entry, ec);
    if (ec) fs::remove(tmp, ec);  // an unwritable cache is not an error
  }
  return spirv;
}

std::string disassemble(const std::vector<uint32_t>& spirv) {
  spvtools::SpirvTools tools(kTargetEnv);
  std::string text;
  if (!tools.Disassemble(spirv, &text, SPV_BINARY_TO_TEXT_OPTION_FRIENDLY_NAMES | SPV_BINARY_TO_TEXT_OPTION_INDENT))
    return "<disassembly failed>";
  return text;
}

}  // namespace vkllm::codegen
