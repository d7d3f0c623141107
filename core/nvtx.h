// nvtx.h: NVTX ranges for Nsight Systems (nsys profile -t cuda,nvtx ...). Compiled in only when
// CMake defines PUFFER_PROFILE_NVTX (PUFFER_PROFILE=ON, i.e. build.sh ENV --profile); otherwise the
// macros are empty and the trainer is unchanged. NVTX3 is header-only (CUDA toolkit); the ranges
// cost nothing until a profiler attaches. Ranges nest per thread: push and pop on the same thread.
#ifndef PUFFER_NVTX_H
#define PUFFER_NVTX_H

#ifdef PUFFER_PROFILE_NVTX
#include <nvtx3/nvToolsExt.h>
#define PUFFER_RANGE_PUSH(name) nvtxRangePushA(name)
#define PUFFER_RANGE_POP() nvtxRangePop()
#else
#define PUFFER_RANGE_PUSH(name) ((void)0)
#define PUFFER_RANGE_POP() ((void)0)
#endif

#endif  // PUFFER_NVTX_H
