// vkllm doctor: every Vulkan device with its driver and the features vkllm uses, which device vkllm
// will use and why, and a self-test on that device. Exit 0 when a usable device passes the self-test.
#include <fmt/format.h>
#include <gflags/gflags.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/flags.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/self_test.h"

namespace vkllm::cli {
namespace {

using nlohmann::json;
using runtime::DeviceInfo;
using runtime::format_bytes;

const char* yes_no(bool b) { return b ? "yes" : "no"; }

std::string shape_text(const runtime::CooperativeMatrixShape& s) {
  return fmt::format("{}x{}x{} {}*{}+{}->{}", s.m, s.n, s.k, s.a_type, s.b_type, s.c_type, s.result_type);
}

json caps_json(const codegen::TargetCaps& c) {
  return {{"subgroup_size", c.subgroup_size},
          {"subgroup_size_control", c.subgroup_size_control},
          {"subgroup_arithmetic", c.subgroup_arithmetic},
          {"subgroup_shuffle", c.subgroup_shuffle},
          {"float16_arithmetic", c.float16_arithmetic},
          {"int8_arithmetic", c.int8_arithmetic},
          {"storage_16bit", c.storage_16bit},
          {"storage_8bit", c.storage_8bit},
          {"integer_dot_product", c.integer_dot_product},
          {"cooperative_matrix_nv", c.cooperative_matrix_nv},
          {"max_workgroup_invocations", c.max_workgroup_invocations},
          {"max_shared_memory_bytes", c.max_shared_memory_bytes},
          {"max_push_constant_bytes", c.max_push_constant_bytes}};
}

json device_json(const DeviceInfo& d) {
  json shapes = json::array();
  for (const auto& s : d.cooperative_matrix_shapes)
    shapes.push_back({{"m", s.m},
                      {"n", s.n},
                      {"k", s.k},
                      {"a", s.a_type},
                      {"b", s.b_type},
                      {"c", s.c_type},
                      {"result", s.result_type}});
  json heaps = json::array();
  for (const auto& h : d.memory_heaps) {
    json heap = {{"size", h.size}, {"device_local", h.device_local}};
    if (h.budget) {
      heap["budget"] = h.budget;
      heap["usage"] = h.usage;
    }
    heaps.push_back(heap);
  }
  json out = {
      {"index", d.index},
      {"name", d.name},
      {"vendor", d.vendor},
      {"vendor_id", d.vendor_id},
      {"device_id", d.device_id},
      {"type", std::string(runtime::to_string(d.type))},
      {"api_version", runtime::version_string(d.api_version)},
      {"driver_name", d.driver_name},
      {"driver_info", d.driver_info},
      {"driver_version", d.driver_version},
      {"usable", d.usable()},
      {"missing", d.missing_requirements()},
      {"compute_queue_family", d.has_compute_queue ? json(d.compute_queue_family) : json(nullptr)},
      {"subgroups",
       {{"size", d.subgroup_size},
        {"min_size", d.min_subgroup_size},
        {"max_size", d.max_subgroup_size},
        {"in_compute", d.subgroups_in_compute},
        {"operations", d.subgroup_operation_names()},
        {"size_control", d.subgroup_size_control},
        {"full_subgroups", d.compute_full_subgroups}}},
      {"features",
       {{"buffer_device_address", d.buffer_device_address},
        {"storage_buffer_16bit", d.storage_buffer_16bit},
        {"storage_buffer_8bit", d.storage_buffer_8bit},
        {"shader_int64", d.shader_int64},
        {"shader_int16", d.shader_int16},
        {"shader_float16", d.shader_float16},
        {"shader_int8", d.shader_int8},
        {"integer_dot_product", d.integer_dot_product},
        {"pipeline_executable_properties", d.pipeline_executable_properties},
        {"memory_budget", d.memory_budget}}},
      {"cooperative_matrix_nv", {{"supported", d.cooperative_matrix_nv}, {"shapes", shapes}}},
      {"limits",
       {{"max_storage_buffer_range", d.max_storage_buffer_range},
        {"max_buffer_size", d.max_buffer_size ? json(d.max_buffer_size) : json(nullptr)},
        {"max_memory_allocation_size", d.max_memory_allocation_size},
        {"max_push_constants_size", d.max_push_constants_size},
        {"max_compute_shared_memory_size", d.max_compute_shared_memory_size},
        {"max_workgroup_invocations", d.max_workgroup_invocations},
        {"max_workgroup_size", d.max_workgroup_size},
        {"max_workgroup_count", d.max_workgroup_count}}},
      {"timestamps", {{"valid_bits", d.timestamp_valid_bits}, {"period_ns", d.timestamp_period_ns}}},
      {"memory_heaps", heaps},
  };
  if (d.usable()) out["target_caps"] = caps_json(runtime::target_caps(d));
  return out;
}

void print_device(const DeviceInfo& d, bool selected, const std::string& reason) {
  fmt::print("{} [{}] {}{}\n", selected ? "*" : " ", d.index, d.name,
             selected ? fmt::format("  <- vkllm will use this device: {}", reason) : "");
  fmt::print("    type {}, vendor {} (0x{:04x}), device id 0x{:04x}\n", runtime::to_string(d.type), d.vendor,
             d.vendor_id, d.device_id);
  fmt::print("    driver {}: {}; Vulkan {}\n", d.driver_name.empty() ? "?" : d.driver_name,
             d.driver_info.empty() ? "?" : d.driver_info, runtime::version_string(d.api_version));
  const std::vector<std::string> missing = d.missing_requirements();
  if (missing.empty()) {
    fmt::print(
        "    requirements: met (Vulkan 1.2, compute queue, bufferDeviceAddress, storageBuffer16BitAccess, "
        "shaderInt64)\n");
  } else {
    fmt::print("    requirements: NOT MET, missing {}\n", fmt::join(missing, ", "));
    if (d.api_version < VK_API_VERSION_1_2) return;
  }
  fmt::print("    subgroups: size {} ({}..{}), in compute {}, size control {}, full subgroups {}; operations: {}\n",
             d.subgroup_size, d.min_subgroup_size, d.max_subgroup_size, yes_no(d.subgroups_in_compute),
             yes_no(d.subgroup_size_control), yes_no(d.compute_full_subgroups),
             fmt::join(d.subgroup_operation_names(), ", "));
  fmt::print("    arithmetic: fp16 {}, int8 {}, int16 {}, int64 {}, integer dot product {}\n", yes_no(d.shader_float16),
             yes_no(d.shader_int8), yes_no(d.shader_int16), yes_no(d.shader_int64), yes_no(d.integer_dot_product));
  fmt::print("    storage: 16-bit {}, 8-bit {}; buffer device address {}\n", yes_no(d.storage_buffer_16bit),
             yes_no(d.storage_buffer_8bit), yes_no(d.buffer_device_address));
  if (d.cooperative_matrix_nv) {
    std::vector<std::string> shapes;
    for (const auto& s : d.cooperative_matrix_shapes) shapes.push_back(shape_text(s));
    fmt::print("    cooperative matrix (NV): yes: {}\n", fmt::join(shapes, ", "));
  } else {
    fmt::print("    cooperative matrix (NV): no\n");
  }
  fmt::print("    pipeline statistics: {}; memory budget: {}\n", yes_no(d.pipeline_executable_properties),
             yes_no(d.memory_budget));
  fmt::print("    limits: storage buffer range {}, max buffer {}, max allocation {}, push constants {} B\n",
             format_bytes(d.max_storage_buffer_range),
             d.max_buffer_size ? format_bytes(d.max_buffer_size) : "not reported",
             format_bytes(d.max_memory_allocation_size), d.max_push_constants_size);
  fmt::print("            shared memory {}, workgroup {} invocations, size {}x{}x{}, count {}x{}x{}\n",
             format_bytes(d.max_compute_shared_memory_size), d.max_workgroup_invocations, d.max_workgroup_size[0],
             d.max_workgroup_size[1], d.max_workgroup_size[2], d.max_workgroup_count[0], d.max_workgroup_count[1],
             d.max_workgroup_count[2]);
  if (d.timestamp_valid_bits)
    fmt::print("    timestamps: {} valid bits, {} ns per tick\n", d.timestamp_valid_bits, d.timestamp_period_ns);
  else
    fmt::print("    timestamps: not on the compute queue (no kernel profiling)\n");
  for (size_t h = 0; h < d.memory_heaps.size(); ++h) {
    const auto& heap = d.memory_heaps[h];
    fmt::print(
        "    memory heap {}: {}{}{}\n", h, format_bytes(heap.size), heap.device_local ? " device-local" : " host",
        heap.budget ? fmt::format(", budget {}, in use {}", format_bytes(heap.budget), format_bytes(heap.usage)) : "");
  }
}

}  // namespace

int run_doctor(const Args& args) {
  if (!args.empty()) {
    fmt::print(stderr, "vkllm doctor takes no positional arguments (got '{}')\n", args.front());
    return 2;
  }
  const std::string selector = runtime::effective_device_selector(FLAGS_device);
  const std::string selector_source = !FLAGS_device.empty() ? "--device" : selector.empty() ? "" : "VKLLM_DEVICE";
  json report = {{"ok", false}};
  auto fail = [&](const std::string& message) {
    if (FLAGS_json) {
      report["error"] = message;
      fmt::print("{}\n", report.dump(2));
    } else {
      fmt::print(stderr, "vkllm doctor: {}\n", message);
    }
    return 1;
  };

  std::optional<runtime::Instance> instance;
  try {
    instance.emplace();
  } catch (const runtime::RuntimeError& e) {
    return fail(e.what());
  }
  const std::vector<DeviceInfo>& devices = instance->devices();
  report["loader_version"] = runtime::version_string(instance->loader_version());
  report["selector"] = selector.empty() ? json(nullptr) : json(selector);
  report["devices"] = json::array();
  for (const DeviceInfo& d : devices) report["devices"].push_back(device_json(d));

  std::optional<runtime::DeviceChoice> choice;
  std::string choice_error;
  try {
    choice = runtime::choose_device(devices, selector);
    if (!selector_source.empty()) choice->reason += fmt::format(" (from {})", selector_source);
  } catch (const runtime::RuntimeError& e) {
    choice_error = e.what();
  }

  if (!FLAGS_json) {
    fmt::print("Vulkan loader {}; {} device{}\n\n", runtime::version_string(instance->loader_version()), devices.size(),
               devices.size() == 1 ? "" : "s");
    for (const DeviceInfo& d : devices) {
      print_device(d, choice && choice->index == d.index, choice ? choice->reason : "");
      fmt::print("\n");
    }
  }
  if (!choice) return fail(choice_error);
  report["selected"] = choice->index;
  report["reason"] = choice->reason;

  // Open the chosen device and run a kernel on it: a driver can list features it then fails to deliver.
  instance.reset();
  try {
    runtime::Device device(runtime::Device::Options{selector});
    runtime::self_test(device);
  } catch (const std::exception& e) {
    report["self_test"] = e.what();
    return fail(fmt::format("device {} was selected but failed its self-test: {}", choice->index, e.what()));
  }
  report["self_test"] = "passed";
  report["ok"] = true;
  if (FLAGS_json) {
    fmt::print("{}\n", report.dump(2));
  } else {
    fmt::print(
        "Self-test on device {} passed: a generated kernel read and wrote memory through buffer device "
        "addresses.\n",
        choice->index);
  }
  return 0;
}

}  // namespace vkllm::cli
