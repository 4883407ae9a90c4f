// SEEK_HOST_DEVICE: a function for both sides, the device under nvcc and the host everywhere (the
// tensor-core kernels' index functions, which tests run on the CPU).
#pragma once

#if defined(__CUDACC__)
#define SEEK_HOST_DEVICE __host__ __device__
#else
#define SEEK_HOST_DEVICE
#endif
