// A kernel using cuda_fp8.h / cuda_bf16.h runs in the emulator (fp8_demo_kernels.cu): its codes
// are core/fp8's, which tests/fp8_oracle.cpp checks bit for bit against the same NVIDIA functions.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/fp8.h"
#include "core/random.h"
#include "tests/gpu/demo_kernels.h"

TEST_CASE("emulator: a kernel with cuda_fp8.h and cuda_bf16.h conversions", "[emulator][fp8]") {
    seek::Rng rng(11);
    std::vector<float> x = {0.0f, -0.0f, 1.0f, 448.0f, 449.0f, 1e9f, -1e9f, 0.001953125f, 1e-12f, NAN, INFINITY};
    for (int i = 0; i < 2000; ++i) x.push_back(rng.normal() * std::pow(2.0f, static_cast<float>(rng.next_u64() % 40) - 20.0f));
    std::vector<unsigned char> e4m3;
    std::vector<unsigned short> bf16;
    seek::emu::fp8_codes(x, e4m3, bf16);
    const std::vector<uint8_t> bf16_bytes = seek::bf16_bytes(x.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
        INFO("x = " << x[i]);
        CHECK(e4m3[i] == seek::fp8_encode(x[i], seek::Fp8Format::E4M3, seek::Saturation::Finite));
        CHECK(bf16[i] == (bf16_bytes[2 * i] | bf16_bytes[2 * i + 1] << 8));
    }
}
