package nccl

/*
#include "binding.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// cudaErr converts a cudaError_t into an error naming the call.
func (l *Library) cudaErr(fn string, code C.int) error {
	if code == cudaSuccess {
		return nil
	}
	text := "unknown CUDA error"
	if s := C.ug_cuda_error_string(C.uintptr_t(l.cuda.getErrorString), code); s != nil {
		text = C.GoString(s)
	}
	return &CUDAError{Func: fn, Code: int(code), Text: text}
}

// CUDAVersions returns the versions of the loaded CUDA runtime and of the
// CUDA driver (0 when no driver is installed).
func (l *Library) CUDAVersions() (rt, driver CUDAVersion, err error) {
	var r, d C.int
	if err := l.cudaErr("cudaRuntimeGetVersion", C.ug_cuda_int_out(C.uintptr_t(l.cuda.runtimeGetVersion), &r)); err != nil {
		return 0, 0, err
	}
	if err := l.cudaErr("cudaDriverGetVersion", C.ug_cuda_int_out(C.uintptr_t(l.cuda.driverGetVersion), &d)); err != nil {
		return CUDAVersion(r), 0, err
	}
	return CUDAVersion(r), CUDAVersion(d), nil
}

// DeviceCount returns the number of CUDA devices visible to the process.
func (l *Library) DeviceCount() (int, error) {
	var n C.int
	if err := l.cudaErr("cudaGetDeviceCount", C.ug_cuda_int_out(C.uintptr_t(l.cuda.getDeviceCount), &n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// SetDevice makes dev the current device of the calling OS thread. Go
// moves goroutines between threads: call it with the thread locked
// (runtime.LockOSThread), or use OnDevice.
func (l *Library) SetDevice(dev int) error {
	return l.cudaErr(fmt.Sprintf("cudaSetDevice(%d)", dev), C.ug_cuda_int(C.uintptr_t(l.cuda.setDevice), C.int(dev)))
}

// CurrentDevice returns the current device of the calling OS thread.
func (l *Library) CurrentDevice() (int, error) {
	var d C.int
	if err := l.cudaErr("cudaGetDevice", C.ug_cuda_int_out(C.uintptr_t(l.cuda.getDevice), &d)); err != nil {
		return 0, err
	}
	return int(d), nil
}

// OnDevice runs f on a locked OS thread whose current device is dev.
func (l *Library) OnDevice(dev int, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := l.SetDevice(dev); err != nil {
		return err
	}
	return f()
}

// Stream is a cudaStream_t.
type Stream uintptr

// NewStream creates a stream on the current device. It is a blocking
// stream (cudaStreamDefault): work queued on it starts after the work
// already queued on the legacy default stream, where libtorch computes by
// default, so gradients are complete before NCCL reads them.
func (l *Library) NewStream() (Stream, error) {
	var s C.uintptr_t
	err := l.cudaErr("cudaStreamCreateWithFlags", C.ug_cuda_stream_create(C.uintptr_t(l.cuda.streamCreateWithFlags), &s, cudaStreamDefault))
	return Stream(s), err
}

// StreamQuery reports whether all work queued on s has completed.
func (l *Library) StreamQuery(s Stream) (bool, error) {
	code := C.ug_cuda_handle(C.uintptr_t(l.cuda.streamQuery), C.uintptr_t(s))
	if code == cudaErrorNotReady {
		return false, nil
	}
	return code == cudaSuccess, l.cudaErr("cudaStreamQuery", code)
}

// StreamSynchronize waits for all work queued on s.
func (l *Library) StreamSynchronize(s Stream) error {
	return l.cudaErr("cudaStreamSynchronize", C.ug_cuda_handle(C.uintptr_t(l.cuda.streamSynchronize), C.uintptr_t(s)))
}

// DestroyStream releases s.
func (l *Library) DestroyStream(s Stream) error {
	return l.cudaErr("cudaStreamDestroy", C.ug_cuda_handle(C.uintptr_t(l.cuda.streamDestroy), C.uintptr_t(s)))
}

// Malloc allocates bytes of memory on the current device.
func (l *Library) Malloc(bytes int) (uintptr, error) {
	var p C.uintptr_t
	err := l.cudaErr(fmt.Sprintf("cudaMalloc(%d)", bytes), C.ug_cuda_malloc(C.uintptr_t(l.cuda.malloc), &p, C.size_t(bytes)))
	return uintptr(p), err
}

// Free releases device memory from Malloc.
func (l *Library) Free(ptr uintptr) error {
	return l.cudaErr("cudaFree", C.ug_cuda_handle(C.uintptr_t(l.cuda.free), C.uintptr_t(ptr)))
}

// CopyToDevice copies src into device memory at dst (synchronously).
func (l *Library) CopyToDevice(dst uintptr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	code := C.ug_cuda_memcpy_h2d(C.uintptr_t(l.cuda.memcpy), C.uintptr_t(dst), unsafe.Pointer(&src[0]), C.size_t(4*len(src)))
	return l.cudaErr("cudaMemcpy host to device", code)
}

// CopyFromDevice copies len(dst) floats from device memory at src into dst
// (synchronously).
func (l *Library) CopyFromDevice(dst []float32, src uintptr) error {
	if len(dst) == 0 {
		return nil
	}
	code := C.ug_cuda_memcpy_d2h(C.uintptr_t(l.cuda.memcpy), unsafe.Pointer(&dst[0]), C.uintptr_t(src), C.size_t(4*len(dst)))
	return l.cudaErr("cudaMemcpy device to host", code)
}
