// The GPU backends each gpu/<op>.h declares its names for: seek::emu, the kernels in the
// thread-block emulator (seek_gpu_emu), and seek::cuda, the kernels on a GPU (seek_gpu, nvcc).
// `api` is the header's macro that writes one backend's names (the .cu's host functions and the
// wrappers with core's signatures), e.g. SEEK_RMS_NORM_API(backend) in gpu/rms_norm.h: written
// once, so that the two backends cannot drift apart.
#pragma once

#define SEEK_FOR_EACH_GPU_BACKEND(api) api(emu) api(cuda)
