// A kernel of gpu/moe.cu copied with a bug planted in it (moe_planted_bugs.cu), to show that the
// emulator test catches it (test_moe_gpu.cpp).
#pragma once

#include <vector>

namespace seek::emu {

// gpu/moe.cu's exclusive_scan_gpu with the barrier between a Hillis-Steele step's reads and its
// writes removed: values [n] -> {exclusive prefix sums [n], total}.
std::vector<int> exclusive_scan_without_barrier(const std::vector<int>& values);

}  // namespace seek::emu
