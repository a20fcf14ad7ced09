// An end-to-end check of a device: compile a small kernel, run it on data uploaded through staging,
// reading and writing through buffer device addresses, and compare the result (`vkllm doctor`).
#pragma once

namespace vkllm::runtime {

class Device;

// Throws RuntimeError (or codegen::CompileError) saying what failed.
void self_test(Device& device);

}  // namespace vkllm::runtime
