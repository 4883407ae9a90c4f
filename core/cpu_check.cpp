// Runs before main: does this CPU have the instruction sets the build was compiled for?
//
// The build targets one fixed level (CMake's SEEK_ARCH, x86-64-v3 by default: AVX2 + FMA), so that
// one binary computes the same bytes on every CPU that runs it. On a CPU without that level the
// first AVX2 instruction would kill the program with SIGILL; instead this file, compiled for any
// x86-64 CPU (core/CMakeLists.txt), checks each instruction set first and names what is missing.
// It runs as a constructor of priority 101, before the program's other static initializers, and
// then fixes the settings that would otherwise vary with the machine (linear.h).
// Plain C only in this file: an inline C++ library function compiled here and again, for
// SEEK_ARCH, in another file could be merged by the linker into the one copy the check then calls.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

#ifndef SEEK_ARCH_NAME
#define SEEK_ARCH_NAME ""
#endif
#ifndef SEEK_ARCH_FEATURES
#define SEEK_ARCH_FEATURES ""
#endif

namespace seek {
void fix_machine_dependent_settings();  // linear.h (not included: it would bring in Eigen)
}

// Writes the instruction sets the build needs that this CPU lacks into `missing`, comma-separated
// ("" when none).
static void missing_instruction_sets(char* missing, size_t size) {
    missing[0] = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    // f16c, movbe and lzcnt are read from CPUID itself (clang 14's __builtin_cpu_supports does not know
    // them): leaf 1 ECX bits 29 and 22, leaf 0x80000001 ECX bit 5 (ABM/LZCNT).
    unsigned int eax = 0, ebx = 0, ecx1 = 0, edx = 0, ecx_extended = 0;
    __get_cpuid(1, &eax, &ebx, &ecx1, &edx);
    if (static_cast<unsigned int>(__get_cpuid_max(0x80000000u, nullptr)) >= 0x80000001u) __get_cpuid(0x80000001u, &eax, &ebx, &ecx_extended, &edx);
    struct Feature {
        const char* name;
        bool present;
    };
    // __builtin_cpu_supports takes only literals, so every name the build can need is listed.
    const Feature features[] = {
        {"sse3", __builtin_cpu_supports("sse3") != 0},         {"ssse3", __builtin_cpu_supports("ssse3") != 0},
        {"sse4.1", __builtin_cpu_supports("sse4.1") != 0},     {"sse4.2", __builtin_cpu_supports("sse4.2") != 0},
        {"popcnt", __builtin_cpu_supports("popcnt") != 0},     {"avx", __builtin_cpu_supports("avx") != 0},
        {"avx2", __builtin_cpu_supports("avx2") != 0},         {"fma", __builtin_cpu_supports("fma") != 0},
        {"bmi", __builtin_cpu_supports("bmi") != 0},           {"bmi2", __builtin_cpu_supports("bmi2") != 0},
        {"f16c", (ecx1 & (1u << 29)) != 0},                    {"lzcnt", (ecx_extended & (1u << 5)) != 0},
        {"movbe", (ecx1 & (1u << 22)) != 0},       {"avx512f", __builtin_cpu_supports("avx512f") != 0},
        {"avx512cd", __builtin_cpu_supports("avx512cd") != 0}, {"avx512bw", __builtin_cpu_supports("avx512bw") != 0},
        {"avx512dq", __builtin_cpu_supports("avx512dq") != 0}, {"avx512vl", __builtin_cpu_supports("avx512vl") != 0},
    };
    char needed[256], name[32];
    snprintf(needed, sizeof needed, ",%s,", SEEK_ARCH_FEATURES);
    for (const Feature& feature : features) {
        snprintf(name, sizeof name, ",%s,", feature.name);
        if (feature.present || strstr(needed, name) == nullptr) continue;
        if (missing[0]) strncat(missing, ", ", size - strlen(missing) - 1);
        strncat(missing, feature.name, size - strlen(missing) - 1);
    }
#else
    (void)size;
#endif
}

// Referenced by the linker (-u seek_cpu_check) so that every program linking seek_core runs the check.
extern "C" void seek_cpu_check() {
    char missing[256];
    missing_instruction_sets(missing, sizeof missing);
    if (missing[0]) {
        fprintf(stderr,
                "seekscope was built for %s CPUs (cmake -DSEEK_ARCH=%s), and this CPU lacks: %s.\n"
                "Rebuild for this CPU with cmake -DSEEK_ARCH=x86-64 (any 64-bit x86 CPU) or -DSEEK_ARCH=native;\n"
                "results then differ from this build's in the last bits of floating-point sums.\n",
                SEEK_ARCH_NAME, SEEK_ARCH_NAME, missing);
        _Exit(1);
    }
    seek::fix_machine_dependent_settings();
}

__attribute__((constructor(101))) static void check_cpu_before_main() { seek_cpu_check(); }
