// Measured memory bandwidth of a device (cli/bench_peak.cpp): the ceiling `vkllm bench` compares
// its decode rate and per-kernel byte rates with.
#pragma once
#include <cstdint>

#include "runtime/device.h"

namespace vkllm::cli {

struct PeakBandwidth {
  double read_gb_s = 0;  // 16-byte loads streamed through the cores
  double copy_gb_s = 0;  // bytes read + bytes written, per second
};

// Runs a read kernel and a copy kernel over `bytes` (a multiple of 16; far larger than the
// caches for a meaningful figure) five times each on `device`; the best run of each.
PeakBandwidth measure_peak_bandwidth(runtime::Device& device, uint64_t bytes);

}  // namespace vkllm::cli
