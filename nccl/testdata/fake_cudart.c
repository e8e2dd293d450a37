// A stand-in for libcudart used by the tests on machines without a GPU:
// "device" memory is host memory, streams complete at once unless
// FAKE_CUDA_STREAM_HANG=1, FAKE_CUDA_DEVICES (default 1) devices exist and
// FAKE_CUDA_DRIVER (default 12040) is the driver's CUDA version.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread int current_device = 0;

static int env_int(const char *name, int def) {
	const char *v = getenv(name);
	return (v != NULL && *v != '\0') ? atoi(v) : def;
}

int cudaSetDevice(int d) {
	if (d < 0 || d >= env_int("FAKE_CUDA_DEVICES", 1)) return 101; // cudaErrorInvalidDevice
	current_device = d;
	return 0;
}

int cudaGetDevice(int *d) { *d = current_device; return 0; }

int cudaGetDeviceCount(int *n) {
	*n = env_int("FAKE_CUDA_DEVICES", 1);
	return *n == 0 ? 100 : 0; // cudaErrorNoDevice
}

int cudaStreamCreateWithFlags(void **s, unsigned int flags) {
	(void)flags;
	*s = malloc(16);
	return 0;
}

int cudaStreamQuery(void *s) {
	(void)s;
	return env_int("FAKE_CUDA_STREAM_HANG", 0) ? 600 : 0; // cudaErrorNotReady
}

int cudaStreamSynchronize(void *s) { (void)s; return 0; }
int cudaStreamDestroy(void *s) { free(s); return 0; }

int cudaMalloc(void **p, size_t n) {
	*p = calloc(1, n ? n : 1);
	return *p != NULL ? 0 : 2; // cudaErrorMemoryAllocation
}

int cudaFree(void *p) { free(p); return 0; }

int cudaMemcpy(void *dst, const void *src, size_t n, int kind) {
	if (kind < 0 || kind > 4) return 21; // cudaErrorInvalidMemcpyDirection
	memcpy(dst, src, n);
	return 0;
}

const char *cudaGetErrorString(int e) {
	switch (e) {
	case 0: return "no error";
	case 2: return "out of memory";
	case 21: return "invalid copy direction for memcpy";
	case 100: return "no CUDA-capable device is detected";
	case 101: return "invalid device ordinal";
	case 600: return "device not ready";
	}
	return "unrecognized error code";
}

int cudaRuntimeGetVersion(int *v) { *v = 12040; return 0; }
int cudaDriverGetVersion(int *v) { *v = env_int("FAKE_CUDA_DRIVER", 12040); return 0; }
