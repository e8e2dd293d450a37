// C side of the dlopen binding to NCCL and the CUDA runtime. No CUDA or
// NCCL header is needed: the few types are declared here with the ABI of
// nccl.h and cuda_runtime_api.h. Every handle and device address crosses
// into Go as uintptr_t; every library function is called through a
// trampoline that takes the function pointer found by dlsym.
#ifndef UNIGRPO_NCCL_BINDING_H
#define UNIGRPO_NCCL_BINDING_H

#include <stddef.h>
#include <stdint.h>

// ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRank.
typedef struct { char internal[128]; } ug_nccl_unique_id;

// Dynamic loading. ug_dlopen writes dlerror's text into err on failure.
uintptr_t ug_dlopen(const char *path, char *err, size_t errlen);
uintptr_t ug_dlsym(uintptr_t handle, const char *name);

// NCCL.
int ug_nccl_int_out(uintptr_t fn, int *out);                     // ncclGetVersion
int ug_nccl_get_unique_id(uintptr_t fn, ug_nccl_unique_id *id);
int ug_nccl_comm_init_rank(uintptr_t fn, uintptr_t *comm, int nranks, const ug_nccl_unique_id *id, int rank);
int ug_nccl_all_reduce(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t count, int dtype, int op, uintptr_t comm, uintptr_t stream);
int ug_nccl_broadcast(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t count, int dtype, int root, uintptr_t comm, uintptr_t stream);
int ug_nccl_all_gather(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t sendcount, int dtype, uintptr_t comm, uintptr_t stream);
int ug_nccl_reduce_scatter(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t recvcount, int dtype, int op, uintptr_t comm, uintptr_t stream);
int ug_nccl_void(uintptr_t fn);                                     // ncclGroupStart, ncclGroupEnd
int ug_nccl_comm(uintptr_t fn, uintptr_t comm);                     // ncclCommFinalize, Destroy, Abort
int ug_nccl_comm_int_out(uintptr_t fn, uintptr_t comm, int *out);  // ncclCommGetAsyncError, Count, CuDevice, UserRank
const char *ug_nccl_error_string(uintptr_t fn, int result);
const char *ug_nccl_last_error(uintptr_t fn, uintptr_t comm);

// CUDA runtime. All return cudaError_t (an int).
int ug_cuda_int(uintptr_t fn, int v);                               // cudaSetDevice
int ug_cuda_int_out(uintptr_t fn, int *out);                        // cudaGetDevice, cudaGetDeviceCount, versions
int ug_cuda_stream_create(uintptr_t fn, uintptr_t *stream, unsigned int flags);
int ug_cuda_handle(uintptr_t fn, uintptr_t h);                     // cudaStreamQuery/Synchronize/Destroy, cudaFree
int ug_cuda_malloc(uintptr_t fn, uintptr_t *ptr, size_t size);
int ug_cuda_memcpy_h2d(uintptr_t fn, uintptr_t dst, const void *src, size_t count);
int ug_cuda_memcpy_d2h(uintptr_t fn, void *dst, uintptr_t src, size_t count);
const char *ug_cuda_error_string(uintptr_t fn, int err);

#endif
