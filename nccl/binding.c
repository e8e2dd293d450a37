#include <dlfcn.h>
#include <stdio.h>

#include "binding.h"

uintptr_t ug_dlopen(const char *path, char *err, size_t errlen) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e != NULL ? e : "unknown dlopen error");
	}
	return (uintptr_t)h;
}

uintptr_t ug_dlsym(uintptr_t handle, const char *name) {
	dlerror();
	return (uintptr_t)dlsym((void *)handle, name);
}

typedef void *ptr_t;

int ug_nccl_int_out(uintptr_t fn, int *out) {
	return ((int (*)(int *))fn)(out);
}

int ug_nccl_get_unique_id(uintptr_t fn, ug_nccl_unique_id *id) {
	return ((int (*)(ug_nccl_unique_id *))fn)(id);
}

int ug_nccl_comm_init_rank(uintptr_t fn, uintptr_t *comm, int nranks, const ug_nccl_unique_id *id, int rank) {
	ptr_t c = NULL;
	int r = ((int (*)(ptr_t *, int, ug_nccl_unique_id, int))fn)(&c, nranks, *id, rank);
	*comm = (uintptr_t)c;
	return r;
}

int ug_nccl_all_reduce(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t count, int dtype, int op, uintptr_t comm, uintptr_t stream) {
	return ((int (*)(const void *, void *, size_t, int, int, ptr_t, ptr_t))fn)(
		(const void *)send, (void *)recv, count, dtype, op, (ptr_t)comm, (ptr_t)stream);
}

int ug_nccl_broadcast(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t count, int dtype, int root, uintptr_t comm, uintptr_t stream) {
	return ((int (*)(const void *, void *, size_t, int, int, ptr_t, ptr_t))fn)(
		(const void *)send, (void *)recv, count, dtype, root, (ptr_t)comm, (ptr_t)stream);
}

int ug_nccl_all_gather(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t sendcount, int dtype, uintptr_t comm, uintptr_t stream) {
	return ((int (*)(const void *, void *, size_t, int, ptr_t, ptr_t))fn)(
		(const void *)send, (void *)recv, sendcount, dtype, (ptr_t)comm, (ptr_t)stream);
}

int ug_nccl_reduce_scatter(uintptr_t fn, uintptr_t send, uintptr_t recv, size_t recvcount, int dtype, int op, uintptr_t comm, uintptr_t stream) {
	return ((int (*)(const void *, void *, size_t, int, int, ptr_t, ptr_t))fn)(
		(const void *)send, (void *)recv, recvcount, dtype, op, (ptr_t)comm, (ptr_t)stream);
}

int ug_nccl_void(uintptr_t fn) {
	return ((int (*)(void))fn)();
}

int ug_nccl_comm(uintptr_t fn, uintptr_t comm) {
	return ((int (*)(ptr_t))fn)((ptr_t)comm);
}

int ug_nccl_comm_int_out(uintptr_t fn, uintptr_t comm, int *out) {
	return ((int (*)(ptr_t, int *))fn)((ptr_t)comm, out);
}

const char *ug_nccl_error_string(uintptr_t fn, int result) {
	return ((const char *(*)(int))fn)(result);
}

const char *ug_nccl_last_error(uintptr_t fn, uintptr_t comm) {
	return ((const char *(*)(ptr_t))fn)((ptr_t)comm);
}

int ug_cuda_int(uintptr_t fn, int v) {
	return ((int (*)(int))fn)(v);
}

int ug_cuda_int_out(uintptr_t fn, int *out) {
	return ((int (*)(int *))fn)(out);
}

int ug_cuda_stream_create(uintptr_t fn, uintptr_t *stream, unsigned int flags) {
	ptr_t s = NULL;
	int r = ((int (*)(ptr_t *, unsigned int))fn)(&s, flags);
	*stream = (uintptr_t)s;
	return r;
}

int ug_cuda_handle(uintptr_t fn, uintptr_t h) {
	return ((int (*)(ptr_t))fn)((ptr_t)h);
}

int ug_cuda_malloc(uintptr_t fn, uintptr_t *ptr, size_t size) {
	ptr_t p = NULL;
	int r = ((int (*)(ptr_t *, size_t))fn)(&p, size);
	*ptr = (uintptr_t)p;
	return r;
}

// cudaMemcpyKind values: cudaMemcpyHostToDevice 1, cudaMemcpyDeviceToHost 2.
int ug_cuda_memcpy_h2d(uintptr_t fn, uintptr_t dst, const void *src, size_t count) {
	return ((int (*)(void *, const void *, size_t, int))fn)((void *)dst, src, count, 1);
}

int ug_cuda_memcpy_d2h(uintptr_t fn, void *dst, uintptr_t src, size_t count) {
	return ((int (*)(void *, const void *, size_t, int))fn)(dst, (const void *)src, count, 2);
}

const char *ug_cuda_error_string(uintptr_t fn, int err) {
	return ((const char *(*)(int))fn)(err);
}
