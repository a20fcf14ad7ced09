#include "runtime/device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "codegen/profiles.h"
#include "runtime/error.h"
#include "runtime/uploader.h"

namespace vkllm::runtime {
namespace {

constexpr const char* kNoDriverAdvice =
    "Install a Vulkan driver: your GPU vendor's driver, or for a CPU-only machine Mesa's lavapipe "
    "(Debian/Ubuntu: `apt install mesa-vulkan-drivers`). If a driver is installed in a non-standard "
    "place, point the loader at its manifest: VK_DRIVER_FILES=/path/to/icd.json. `vulkaninfo --summary` "
    "(package vulkan-tools) shows what the loader finds.";

constexpr uint64_t kStagingChunkBytes = 64ull << 20;
constexpr double kOneOffTimeoutSeconds = 300;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string vendor_name(uint32_t id) {
  switch (id) {
    case 0x1002:
      return "AMD";
    case 0x10DE:
      return "NVIDIA";
    case 0x8086:
      return "Intel";
    case 0x13B5:
      return "ARM";
    case 0x5143:
      return "Qualcomm";
    case 0x1010:
      return "Imagination";
    case 0x106B:
      return "Apple";
    case 0x14E4:
      return "Broadcom";
    case 0x1AE0:
      return "Google";
    case VK_VENDOR_ID_MESA:
      return "Mesa";
    default:
      return fmt::format("0x{:04x}", id);
  }
}

DeviceType device_type(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return DeviceType::Discrete;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return DeviceType::Integrated;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return DeviceType::Virtual;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return DeviceType::Cpu;
    default:
      return DeviceType::Other;
  }
}

// Lower is preferred.
int type_rank(DeviceType t) {
  switch (t) {
    case DeviceType::Discrete:
      return 0;
    case DeviceType::Integrated:
      return 1;
    case DeviceType::Virtual:
      return 2;
    case DeviceType::Cpu:
      return 3;
    case DeviceType::Other:
      return 4;
  }
  return 5;
}

std::string component_type(VkComponentTypeNV t) {
  switch (t) {
    case VK_COMPONENT_TYPE_FLOAT16_NV:
      return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_NV:
      return "f32";
    case VK_COMPONENT_TYPE_FLOAT64_NV:
      return "f64";
    case VK_COMPONENT_TYPE_SINT8_NV:
      return "i8";
    case VK_COMPONENT_TYPE_SINT16_NV:
      return "i16";
    case VK_COMPONENT_TYPE_SINT32_NV:
      return "i32";
    case VK_COMPONENT_TYPE_SINT64_NV:
      return "i64";
    case VK_COMPONENT_TYPE_UINT8_NV:
      return "u8";
    case VK_COMPONENT_TYPE_UINT16_NV:
      return "u16";
    case VK_COMPONENT_TYPE_UINT32_NV:
      return "u32";
    case VK_COMPONENT_TYPE_UINT64_NV:
      return "u64";
    default:
      return fmt::format("type{}", static_cast<int>(t));
  }
}

// Appends `s` to a pNext chain whose last element is `*tail`.
template <typename T>
void chain(void**& tail, T& s) {
  *tail = &s;
  tail = &s.pNext;
}

std::vector<CooperativeMatrixShape> cooperative_matrix_shapes(VkInstance instance, VkPhysicalDevice pd) {
  auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (!get) return {};
  uint32_t count = 0;
  if (get(pd, &count, nullptr) != VK_SUCCESS) return {};
  std::vector<VkCooperativeMatrixPropertiesNV> props(count, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  if (get(pd, &count, props.data()) != VK_SUCCESS) return {};
  std::vector<CooperativeMatrixShape> shapes;
  for (const auto& p : props) {
    if (p.scope != VK_SCOPE_SUBGROUP_NV) continue;
    shapes.push_back({p.MSize, p.NSize, p.KSize, component_type(p.AType), component_type(p.BType),
                      component_type(p.CType), component_type(p.DType)});
  }
  return shapes;
}

DeviceInfo probe(VkInstance instance, VkPhysicalDevice pd, uint32_t index, uint32_t instance_api) {
  DeviceInfo info;
  info.index = index;
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  info.name = p.deviceName;
  info.vendor_id = p.vendorID;
  info.device_id = p.deviceID;
  info.vendor = vendor_name(p.vendorID);
  info.type = device_type(p.deviceType);
  info.api_version = p.apiVersion;
  info.driver_version = p.driverVersion;
  info.timestamp_period_ns = p.limits.timestampPeriod;
  info.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  info.max_push_constants_size = p.limits.maxPushConstantsSize;
  info.max_compute_shared_memory_size = p.limits.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    info.max_workgroup_size[i] = p.limits.maxComputeWorkGroupSize[i];
    info.max_workgroup_count[i] = p.limits.maxComputeWorkGroupCount[i];
  }

  uint32_t ext_count = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &ext_count, nullptr);
  std::vector<VkExtensionProperties> exts(ext_count);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &ext_count, exts.data());
  for (const auto& e : exts) info.extensions.emplace_back(e.extensionName);
  std::sort(info.extensions.begin(), info.extensions.end());

  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &family_count, families.data());
  for (uint32_t f = 0; f < family_count; ++f) {
    if (families[f].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      info.has_compute_queue = true;
      info.compute_queue_family = f;
      info.timestamp_valid_bits = families[f].timestampValidBits;
      break;
    }
  }

  VkPhysicalDeviceFeatures features;
  vkGetPhysicalDeviceFeatures(pd, &features);
  info.shader_int64 = features.shaderInt64;
  info.shader_int16 = features.shaderInt16;

  info.memory_budget = info.has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  const uint32_t api = std::min(p.apiVersion, instance_api);
  if (api < VK_API_VERSION_1_2) {
    info.memory_budget = false;
    info.memory_heaps = query_memory_heaps(pd, false);
    return info;
  }
  const bool v13 = api >= VK_API_VERSION_1_3;

  // Properties.
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  VkPhysicalDeviceVulkan11Properties p11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
  VkPhysicalDeviceVulkan12Properties p12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
  VkPhysicalDeviceVulkan13Properties p13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlPropertiesEXT size_control_props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
  VkPhysicalDeviceMaintenance4PropertiesKHR maintenance4_props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES_KHR};
  const bool has_size_control_ext = info.has_extension(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  const bool has_maintenance4_ext = info.has_extension(VK_KHR_MAINTENANCE_4_EXTENSION_NAME);
  VkPhysicalDeviceShaderIntegerDotProductPropertiesKHR dot_product_props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES_KHR};
  const bool has_dot_product_ext = info.has_extension(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  void** tail = &props2.pNext;
  chain(tail, p11);
  chain(tail, p12);
  if (v13) {
    chain(tail, p13);
  } else {
    if (has_size_control_ext) chain(tail, size_control_props);
    if (has_maintenance4_ext) chain(tail, maintenance4_props);
    if (has_dot_product_ext) chain(tail, dot_product_props);
  }
  vkGetPhysicalDeviceProperties2(pd, &props2);
  const bool dot_product_accelerated = v13 ? p13.integerDotProduct4x8BitPackedMixedSignednessAccelerated
                                           : has_dot_product_ext &&
                                                 dot_product_props.integerDotProduct4x8BitPackedMixedSignednessAccelerated;
  info.driver_name = p12.driverName;
  info.driver_info = p12.driverInfo;
  info.subgroup_size = p11.subgroupSize;
  info.min_subgroup_size = info.max_subgroup_size = p11.subgroupSize;
  info.subgroup_operations = p11.subgroupSupportedOperations;
  info.subgroups_in_compute = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
  info.max_memory_allocation_size = p11.maxMemoryAllocationSize;
  VkShaderStageFlags required_size_stages = 0;
  if (v13) {
    info.min_subgroup_size = p13.minSubgroupSize;
    info.max_subgroup_size = p13.maxSubgroupSize;
    required_size_stages = p13.requiredSubgroupSizeStages;
    info.max_buffer_size = p13.maxBufferSize;
  } else {
    if (has_size_control_ext) {
      info.min_subgroup_size = size_control_props.minSubgroupSize;
      info.max_subgroup_size = size_control_props.maxSubgroupSize;
      required_size_stages = size_control_props.requiredSubgroupSizeStages;
    }
    if (has_maintenance4_ext) info.max_buffer_size = maintenance4_props.maxBufferSize;
  }

  // Features.
  VkPhysicalDeviceFeatures2 features2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR dot_product{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  const bool has_dot_ext = info.has_extension(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  const bool has_executable_ext = info.has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  const bool has_coop_ext = info.has_extension(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  tail = &features2.pNext;
  chain(tail, f11);
  chain(tail, f12);
  if (v13) {
    chain(tail, f13);
  } else {
    if (has_size_control_ext) chain(tail, size_control);
    if (has_dot_ext) chain(tail, dot_product);
  }
  if (has_executable_ext) chain(tail, executable);
  if (has_coop_ext) chain(tail, coop);
  vkGetPhysicalDeviceFeatures2(pd, &features2);
  info.storage_buffer_16bit = f11.storageBuffer16BitAccess;
  info.storage_buffer_8bit = f12.storageBuffer8BitAccess;
  info.shader_float16 = f12.shaderFloat16;
  // With the memory model, shaders that use Device scope (glslang emits it for coherent buffers)
  // also need vulkanMemoryModelDeviceScope: require both.
  info.vulkan_memory_model = f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope;
  info.shader_int8 = f12.shaderInt8;
  info.buffer_device_address = f12.bufferDeviceAddress;
  const bool size_control_feature =
      v13 ? f13.subgroupSizeControl : has_size_control_ext && size_control.subgroupSizeControl;
  info.subgroup_size_control = size_control_feature && (required_size_stages & VK_SHADER_STAGE_COMPUTE_BIT);
  info.compute_full_subgroups =
      v13 ? f13.computeFullSubgroups : has_size_control_ext && size_control.computeFullSubgroups;
  info.integer_dot_product = v13 ? f13.shaderIntegerDotProduct : has_dot_ext && dot_product.shaderIntegerDotProduct;
  info.integer_dot_product_accelerated = info.integer_dot_product && dot_product_accelerated;
  info.pipeline_executable_properties = has_executable_ext && executable.pipelineExecutableInfo;
  if (has_coop_ext && coop.cooperativeMatrix) {
    VkPhysicalDeviceCooperativeMatrixPropertiesNV coop_props{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 coop_props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &coop_props};
    vkGetPhysicalDeviceProperties2(pd, &coop_props2);
    info.cooperative_matrix_nv = (coop_props.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    if (info.cooperative_matrix_nv) info.cooperative_matrix_shapes = cooperative_matrix_shapes(instance, pd);
  }
  info.memory_heaps = query_memory_heaps(pd, info.memory_budget);
  return info;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  const bool error = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  if (error) ++*static_cast<std::atomic<size_t>*>(user);
  fmt::print(stderr, "vkllm: Vulkan validation {}: {}\n", error ? "error" : "warning", data->pMessage);
  return VK_FALSE;
}

bool layer_available(const char* name) {
  uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> layers(count);
  vkEnumerateInstanceLayerProperties(&count, layers.data());
  return std::any_of(layers.begin(), layers.end(), [&](const auto& l) { return std::strcmp(l.layerName, name) == 0; });
}

std::string device_list(const std::vector<DeviceInfo>& devices) {
  if (devices.empty()) return "  (none)";
  std::string out;
  for (const DeviceInfo& d : devices) {
    out += fmt::format("\n  [{}] {} ({}, {})", d.index, d.name, to_string(d.type),
                       d.driver_name.empty() ? d.vendor : d.driver_name);
    if (!d.usable()) out += fmt::format(" -- unusable: missing {}", fmt::join(d.missing_requirements(), ", "));
  }
  return out;
}

}  // namespace

std::string_view to_string(DeviceType t) {
  switch (t) {
    case DeviceType::Discrete:
      return "discrete GPU";
    case DeviceType::Integrated:
      return "integrated GPU";
    case DeviceType::Virtual:
      return "virtual GPU";
    case DeviceType::Cpu:
      return "CPU";
    case DeviceType::Other:
      return "other";
  }
  return "other";
}

std::string version_string(uint32_t v) {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
}

bool DeviceInfo::has_extension(std::string_view ext) const {
  return std::binary_search(extensions.begin(), extensions.end(), ext);
}

std::vector<std::string> DeviceInfo::missing_requirements() const {
  std::vector<std::string> missing;
  if (api_version < VK_API_VERSION_1_2) {
    missing.push_back(fmt::format("Vulkan 1.2 (the driver offers {})", version_string(api_version)));
    return missing;  // the features below cannot even be queried
  }
  if (!has_compute_queue) missing.push_back("a compute queue");
  if (!buffer_device_address) missing.push_back("bufferDeviceAddress");
  if (!storage_buffer_16bit) missing.push_back("storageBuffer16BitAccess");
  if (!shader_int64) missing.push_back("shaderInt64");
  return missing;
}

std::vector<std::string> DeviceInfo::subgroup_operation_names() const {
  static const std::pair<VkSubgroupFeatureFlagBits, const char*> kOps[] = {
      {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"},
      {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
      {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic"},
      {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle_relative"},
      {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"},
      {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"},
  };
  std::vector<std::string> names;
  for (const auto& [bit, name] : kOps)
    if (subgroup_operations & bit) names.emplace_back(name);
  return names;
}

codegen::TargetCaps target_caps(const DeviceInfo& info) {
  codegen::TargetCaps caps;
  caps.name = info.name;
  caps.subgroup_size = info.subgroup_size;
  caps.subgroup_size_control = info.subgroup_size_control;
  const bool compute_subgroups =
      info.subgroups_in_compute && (info.subgroup_operations & VK_SUBGROUP_FEATURE_BASIC_BIT);
  caps.subgroup_arithmetic = compute_subgroups && (info.subgroup_operations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  caps.subgroup_shuffle = compute_subgroups && (info.subgroup_operations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  caps.float16_arithmetic = info.shader_float16;
  caps.int8_arithmetic = info.shader_int8;
  caps.storage_16bit = info.storage_buffer_16bit;
  caps.storage_8bit = info.storage_buffer_8bit;
  caps.integer_dot_product = info.integer_dot_product;
  caps.integer_dot_product_accelerated = info.integer_dot_product_accelerated;
  // TargetCaps promises the fp16 16x16x16 shape accumulating in fp32, and shaders using it declare
  // the Vulkan memory model (glslang does so for every GL_NV_cooperative_matrix shader). Prefill
  // matmuls run on tensor cores by default with the f32-faithful "split" kernel (hi/lo f16 pairs);
  // VKLLM_COOPMAT names another variant (codegen/target.h: split, f16, optionally :WMxWN) or turns
  // them off (0: the f32 FMA kernel), and VKLLM_F16_MATMUL=1 means "f16". "f16" rounds activations
  // to f16 (HF-parity error 2-9x larger on the H200: qwen35-9b 2.9e-4 -> 2.6e-3, top-1 1.000 ->
  // 0.984). The first "split" kernel lost its lo halves on the H200 (f16-level errors,
  // bench/results/2026-12-03-h200-session3/); the current one builds them from integer bits
  // (codegen/ops/matmul_tiled.cpp) and meets a 1e-5 tolerance on lavapipe (emulated) and on the
  // H200's tensor cores (bench/results/2026-12-03-h200-session5/run4/tests/).
  const char* coopmat = std::getenv("VKLLM_COOPMAT");
  const char* f16_matmul = std::getenv("VKLLM_F16_MATMUL");
  const std::string variant = coopmat != nullptr && *coopmat != '\0'                         ? coopmat
                              : f16_matmul != nullptr && std::string_view(f16_matmul) == "1" ? "f16"
                                                                                             : "split";
  caps.cooperative_matrix_kernel = variant == "0" ? "split" : variant;
  caps.cooperative_matrix_nv =
      variant != "0" && info.cooperative_matrix_nv && info.vulkan_memory_model &&
      std::any_of(info.cooperative_matrix_shapes.begin(), info.cooperative_matrix_shapes.end(), [](const auto& s) {
        return s.m == 16 && s.n == 16 && s.k == 16 && s.a_type == "f16" && s.b_type == "f16" && s.c_type == "f32" &&
               s.result_type == "f32";
      });
  caps.max_workgroup_invocations = info.max_workgroup_invocations;
  caps.max_shared_memory_bytes = info.max_compute_shared_memory_size;
  caps.max_push_constant_bytes = info.max_push_constants_size;
  codegen::apply_tuning(caps);  // matvec tuning: per-device defaults, then $VKLLM_TUNE
  return caps;
}

std::vector<MemoryHeap> query_memory_heaps(VkPhysicalDevice physical_device, bool with_budget) {
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  if (with_budget) props.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(physical_device, &props);
  std::vector<MemoryHeap> heaps;
  for (uint32_t h = 0; h < props.memoryProperties.memoryHeapCount; ++h) {
    MemoryHeap heap;
    heap.size = props.memoryProperties.memoryHeaps[h].size;
    heap.device_local = props.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    if (with_budget) {
      heap.budget = budget.heapBudget[h];
      heap.usage = budget.heapUsage[h];
    }
    heaps.push_back(heap);
  }
  return heaps;
}

// ---- Instance ----

Instance::Instance() : validation_errors_(std::make_unique<std::atomic<size_t>>(0)) {
  // Open the Vulkan loader (once per process). Without it nothing else can run: say what to install.
  static const VkResult loader_found = volkInitialize();
  if (loader_found != VK_SUCCESS)
    throw RuntimeError(
        "no Vulkan loader: libvulkan.so.1 could not be opened. Install it with a driver (Debian/Ubuntu: "
        "`apt install libvulkan1 mesa-vulkan-drivers` for the CPU driver, or your GPU vendor's driver), or "
        "add its directory to LD_LIBRARY_PATH");
  if (vkEnumerateInstanceVersion(&loader_version_) != VK_SUCCESS) loader_version_ = VK_API_VERSION_1_0;
  if (loader_version_ < VK_API_VERSION_1_1)
    throw RuntimeError(
        fmt::format("the Vulkan loader is version {}; vkllm needs 1.2 or newer. Update the "
                    "Vulkan loader (libvulkan1) and your driver.",
                    version_string(loader_version_)));
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkllm";
  app.pEngineName = "vkllm";
  app.apiVersion = std::min<uint32_t>(loader_version_, VK_API_VERSION_1_3);

  std::vector<const char*> layers, extensions;
  const char* validation = std::getenv("VKLLM_VALIDATION");
  const bool want_validation = validation && *validation && std::strcmp(validation, "0") != 0;
  const bool want_sync_validation = want_validation && std::strcmp(validation, "sync") == 0;
  constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
  if (want_validation) {
    if (!layer_available(kValidationLayer))
      throw RuntimeError(
          "VKLLM_VALIDATION is set but the Khronos validation layer is not installed "
          "(Debian/Ubuntu: `apt install vulkan-validationlayers`), or unset VKLLM_VALIDATION");
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkDebugUtilsMessengerCreateInfoEXT messenger_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger_info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = on_validation_message;
  messenger_info.pUserData = validation_errors_.get();
  const VkValidationFeatureEnableEXT sync_validation = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT validation_features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  validation_features.enabledValidationFeatureCount = 1;
  validation_features.pEnabledValidationFeatures = &sync_validation;

  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  if (want_sync_validation) info.pNext = &validation_features;
  const VkResult r = vkCreateInstance(&info, nullptr, &instance_);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    throw RuntimeError(fmt::format("the Vulkan loader found no driver (vkCreateInstance: {}). {}", vk_result_name(r),
                                   kNoDriverAdvice));
  check_vk(r, "vkCreateInstance (is the Vulkan loader libvulkan1 installed and working?)");
  {
    // Instance and device entry points through the loader's trampolines, which dispatch on the
    // handle: valid for every instance and device of this process.
    static std::mutex load_mutex;
    std::lock_guard lock(load_mutex);
    volkLoadInstance(instance_);
  }

  if (want_validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create) create(instance_, &messenger_info, nullptr, &messenger_);
  }

  uint32_t count = 0;
  const VkResult e = vkEnumeratePhysicalDevices(instance_, &count, nullptr);
  if (e != VK_SUCCESS) {
    destroy_handles();
    throw RuntimeError(fmt::format("vkEnumeratePhysicalDevices: {}. {}", vk_result_name(e), kNoDriverAdvice));
  }
  physical_devices_.resize(count);
  vkEnumeratePhysicalDevices(instance_, &count, physical_devices_.data());
  physical_devices_.resize(count);
  for (uint32_t i = 0; i < count; ++i) devices_.push_back(probe(instance_, physical_devices_[i], i, app.apiVersion));
}

Instance::~Instance() { destroy_handles(); }

void Instance::destroy_handles() {
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
  instance_ = VK_NULL_HANDLE;
}

// ---- Selection ----

std::string effective_device_selector(std::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  const char* env = std::getenv("VKLLM_DEVICE");
  return env ? env : "";
}

DeviceChoice choose_device(const std::vector<DeviceInfo>& devices, std::string_view selector) {
  if (devices.empty()) throw RuntimeError(fmt::format("no Vulkan device found. {}", kNoDriverAdvice));
  auto better = [&](size_t a, size_t b) {
    return std::make_pair(type_rank(devices[a].type), a) < std::make_pair(type_rank(devices[b].type), b);
  };
  auto unusable = [&](size_t i) {
    return RuntimeError(
        fmt::format("device {} '{}' cannot run vkllm: it lacks {}. Update its driver or choose "
                    "another device. Devices:{}",
                    i, devices[i].name, fmt::join(devices[i].missing_requirements(), ", "), device_list(devices)));
  };

  if (selector.empty()) {
    std::vector<size_t> usable;
    for (size_t i = 0; i < devices.size(); ++i)
      if (devices[i].usable()) usable.push_back(i);
    if (usable.empty())
      throw RuntimeError(
          fmt::format("no Vulkan device can run vkllm (it needs Vulkan 1.2 with bufferDeviceAddress, "
                      "storageBuffer16BitAccess and shaderInt64). Update your GPU driver, or install "
                      "Mesa's lavapipe (`apt install mesa-vulkan-drivers`) to run on the CPU. Devices:{}",
                      device_list(devices)));
    const size_t best = *std::min_element(usable.begin(), usable.end(), better);
    std::string reason;
    if (usable.size() == 1) {
      reason = "the only usable device";
    } else {
      reason = fmt::format("the first usable {} (preference: discrete GPU > integrated > virtual > CPU)",
                           to_string(devices[best].type));
    }
    if (devices[best].type == DeviceType::Cpu)
      reason += "; it is a CPU driver: correct but slow, install a GPU driver for speed";
    return {best, reason};
  }

  size_t index = 0;
  const auto [end, ec] = std::from_chars(selector.data(), selector.data() + selector.size(), index);
  if (ec == std::errc() && end == selector.data() + selector.size()) {
    if (index >= devices.size())
      throw RuntimeError(fmt::format("device selector '{}': there is no device {} ({} found). Devices:{}", selector,
                                     index, devices.size(), device_list(devices)));
    if (!devices[index].usable()) throw unusable(index);
    return {index, fmt::format("selected by index '{}'", selector)};
  }

  const std::string needle = lower(selector);
  std::vector<size_t> matches;
  for (size_t i = 0; i < devices.size(); ++i)
    if (lower(devices[i].name).find(needle) != std::string::npos) matches.push_back(i);
  if (matches.empty())
    throw RuntimeError(
        fmt::format("device selector '{}' matches no device name (use an index or part of a name). "
                    "Devices:{}",
                    selector, device_list(devices)));
  std::vector<size_t> usable;
  for (size_t i : matches)
    if (devices[i].usable()) usable.push_back(i);
  if (usable.empty()) throw unusable(matches.front());
  const size_t best = *std::min_element(usable.begin(), usable.end(), better);
  return {best, fmt::format("selected by name '{}'", selector)};
}

// ---- Device ----

Device::Device(const Options& options) : instance_(std::make_unique<Instance>()) {
  const DeviceChoice choice = choose_device(instance_->devices(), effective_device_selector(options.selector));
  info_ = instance_->devices()[choice.index];
  selection_reason_ = choice.reason;
  physical_device_ = instance_->physical_device(choice.index);

  const bool v13 = std::min(info_.api_version, instance_->loader_version()) >= VK_API_VERSION_1_3;
  std::vector<const char*> extensions;
  auto enable_if_present = [&](const char* ext) {
    if (info_.has_extension(ext)) extensions.push_back(ext);
  };

  VkPhysicalDeviceFeatures2 features2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features2.features.shaderInt64 = VK_TRUE;
  features2.features.shaderInt16 = info_.shader_int16;
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.storageBuffer16BitAccess = VK_TRUE;
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f12.bufferDeviceAddress = VK_TRUE;
  f12.storageBuffer8BitAccess = info_.storage_buffer_8bit;
  f12.shaderFloat16 = info_.shader_float16;
  f12.vulkanMemoryModel = info_.vulkan_memory_model;
  f12.vulkanMemoryModelDeviceScope = info_.vulkan_memory_model;
  f12.shaderInt8 = info_.shader_int8;
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR dot_product{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  void** tail = &features2.pNext;
  chain(tail, f11);
  chain(tail, f12);
  if (v13) {
    f13.subgroupSizeControl = info_.subgroup_size_control;
    f13.computeFullSubgroups = info_.compute_full_subgroups;
    f13.shaderIntegerDotProduct = info_.integer_dot_product;
    chain(tail, f13);
  } else {
    if (info_.subgroup_size_control || info_.compute_full_subgroups) {
      extensions.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
      size_control.subgroupSizeControl = info_.subgroup_size_control;
      size_control.computeFullSubgroups = info_.compute_full_subgroups;
      chain(tail, size_control);
    }
    if (info_.integer_dot_product) {
      extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
      dot_product.shaderIntegerDotProduct = VK_TRUE;
      chain(tail, dot_product);
    }
  }
  if (info_.pipeline_executable_properties) {
    extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    executable.pipelineExecutableInfo = VK_TRUE;
    chain(tail, executable);
  }
  if (info_.cooperative_matrix_nv) {
    extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    coop.cooperativeMatrix = VK_TRUE;
    chain(tail, coop);
  }
  if (info_.memory_budget) enable_if_present(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = info_.compute_queue_family;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &features2};
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  device_info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  device_info.ppEnabledExtensionNames = extensions.data();
  const VkResult r = vkCreateDevice(physical_device_, &device_info, nullptr, &device_);
  if (r != VK_SUCCESS)
    throw RuntimeError(
        fmt::format("cannot open device {} '{}' (vkCreateDevice: {}); its driver ({} {}) may be "
                    "broken: update it or choose another device with --device",
                    info_.index, info_.name, vk_result_name(r), info_.driver_name, info_.driver_info));
  vkGetDeviceQueue(device_, info_.compute_queue_family, 0, &queue_);
  try {
    finish_setup(options);
  } catch (...) {
    destroy_handles();
    throw;
  }
}

void Device::finish_setup(const Options& options) {
  if (info_.pipeline_executable_properties) {
    get_pipeline_executable_properties = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
        vkGetDeviceProcAddr(device_, "vkGetPipelineExecutablePropertiesKHR"));
    get_pipeline_executable_statistics = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
        vkGetDeviceProcAddr(device_, "vkGetPipelineExecutableStatisticsKHR"));
  }

  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool_info.queueFamilyIndex = info_.compute_queue_family;
  check_vk(vkCreateCommandPool(device_, &pool_info, nullptr, &command_pool_), "vkCreateCommandPool");
  one_off_commands_ = allocate_command_buffer();
  one_off_fence_ = create_fence();
  allocator_ = std::make_unique<Allocator>(device_, physical_device_, info_, options.block_bytes);
}

Device::~Device() { destroy_handles(); }

void Device::destroy_handles() {
  vkDeviceWaitIdle(device_);
  uploader_.reset();
  readback_staging_ = Buffer();
  allocator_.reset();
  one_off_fence_.reset();
  if (command_pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_, command_pool_, nullptr);
  vkDestroyDevice(device_, nullptr);
}

VkCommandBuffer Device::allocate_command_buffer() {
  VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  info.commandPool = command_pool_;
  info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  info.commandBufferCount = 1;
  VkCommandBuffer buffer = VK_NULL_HANDLE;
  check_vk(vkAllocateCommandBuffers(device_, &info, &buffer), "vkAllocateCommandBuffers");
  return buffer;
}

CommandPool Device::create_command_pool() {
  VkCommandPoolCreateInfo info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  info.queueFamilyIndex = info_.compute_queue_family;
  VkCommandPool pool = VK_NULL_HANDLE;
  check_vk(vkCreateCommandPool(device_, &info, nullptr, &pool), "vkCreateCommandPool");
  return CommandPool(device_, pool);
}

Fence Device::create_fence() {
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  check_vk(vkCreateFence(device_, &info, nullptr, &fence), "vkCreateFence");
  return Fence(device_, fence);
}

void Device::submit(const std::vector<VkCommandBuffer>& buffers, VkFence fence) {
  check_vk(vkResetFences(device_, 1, &fence), "vkResetFences");
  for (size_t i = 0; i < buffers.size(); ++i) {
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &buffers[i];
    check_vk(vkQueueSubmit(queue_, 1, &submit, i + 1 == buffers.size() ? fence : VK_NULL_HANDLE), "vkQueueSubmit");
  }
}

void Device::wait(VkFence fence, double timeout_seconds, std::string_view what) {
  const auto timeout_ns = static_cast<uint64_t>(timeout_seconds * 1e9);
  const VkResult r = vkWaitForFences(device_, 1, &fence, VK_TRUE, timeout_ns);
  if (r == VK_TIMEOUT)
    throw RuntimeError(
        fmt::format("{}: the GPU did not finish within {} s on '{}'; the device may be hung or far "
                    "too slow for this work",
                    what, timeout_seconds, info_.name));
  // Formatted only on failure: waiting is on every step's path, which allocates nothing.
  if (r != VK_SUCCESS) check_vk(r, fmt::format("vkWaitForFences ({})", what).c_str());
}

void Device::submit_and_wait(const std::function<void(VkCommandBuffer)>& record) {
  check_vk(vkResetCommandBuffer(one_off_commands_, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check_vk(vkBeginCommandBuffer(one_off_commands_, &begin), "vkBeginCommandBuffer");
  record(one_off_commands_);
  // Make every write of this submission visible to later submissions and to the host.
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT | VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(one_off_commands_, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                       VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, nullptr, 0,
                       nullptr);
  check_vk(vkEndCommandBuffer(one_off_commands_), "vkEndCommandBuffer");
  submit({one_off_commands_}, one_off_fence_.get());
  wait(one_off_fence_.get(), kOneOffTimeoutSeconds, "one-off submission");
}

Buffer& Device::staging(Buffer& buffer, MemoryKind kind, uint64_t bytes) {
  const uint64_t want = std::min(bytes, kStagingChunkBytes);
  if (!buffer || buffer.size() < want) {
    buffer = Buffer();
    buffer = allocator_->create(want, kind, "the staging buffer");
  }
  return buffer;
}

void Device::upload(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t bytes) {
  if (!uploader_) uploader_ = std::make_unique<Uploader>(*this, Uploader::Options{});
  uploader_->enqueue(dst, dst_offset, src, bytes);
  uploader_->flush();
}

void Device::download(const Buffer& src, uint64_t src_offset, void* dst, uint64_t bytes) {
  if (src_offset > src.size() || bytes > src.size() - src_offset)
    throw RuntimeError(
        fmt::format("download of {} bytes at offset {} overflows a buffer of {} bytes", bytes, src_offset, src.size()));
  if (bytes == 0) return;
  Buffer& stage = staging(readback_staging_, MemoryKind::HostReadback, bytes);
  for (uint64_t done = 0; done < bytes;) {
    const uint64_t chunk = std::min(bytes - done, stage.size());
    submit_and_wait([&](VkCommandBuffer cmd) {
      const VkBufferCopy copy{src_offset + done, 0, chunk};
      vkCmdCopyBuffer(cmd, src.handle(), stage.handle(), 1, &copy);
    });
    std::memcpy(static_cast<char*>(dst) + done, stage.mapped(), chunk);
    done += chunk;
  }
}

}  // namespace vkllm::runtime
