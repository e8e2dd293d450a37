package nccl

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "binding.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// Environment variables naming the libraries explicitly.
const (
	EnvNCCLLib   = "UNIGRPO_NCCL_LIB"
	EnvCUDARTLib = "UNIGRPO_CUDART_LIB"
)

// Library file names tried in each folder, in order.
var (
	ncclNames   = []string{"libnccl.so.2", "libnccl.so"}
	cudartNames = []string{"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}
)

// LoadOptions say where Load looks for the libraries.
type LoadOptions struct {
	// NCCLPath and CUDARTPath name the library files explicitly; empty
	// means the value of EnvNCCLLib / EnvCUDARTLib. An explicit path is
	// the only one tried for its library.
	NCCLPath, CUDARTPath string
	// Dirs are the folders searched after the loader path; nil means
	// DefaultDirs(), an empty non-nil slice means none.
	Dirs []string
	// NoLoaderPath skips dlopen of the plain file names (which searches
	// LD_LIBRARY_PATH, the ld.so cache and the system folders).
	NoLoaderPath bool
}

// Library is a loaded NCCL and CUDA runtime pair. It is safe for concurrent
// use; the libraries stay loaded for the life of the process.
type Library struct {
	ncclPath, cudartPath string
	nccl                 ncclFuncs
	cuda                 cudaFuncs
}

type ncclFuncs struct {
	getVersion, getUniqueID, commInitRank                    uintptr
	allReduce, broadcast, allGather, reduceScatter           uintptr
	groupStart, groupEnd                                     uintptr
	commFinalize, commDestroy, commAbort                     uintptr
	commGetAsyncError, commCount, commCuDevice, commUserRank uintptr
	getErrorString, getLastError                             uintptr
}

type cudaFuncs struct {
	setDevice, getDevice, getDeviceCount                  uintptr
	streamCreateWithFlags, streamQuery, streamSynchronize uintptr
	streamDestroy, malloc, free, memcpy                   uintptr
	getErrorString, runtimeGetVersion, driverGetVersion   uintptr
}

// symbol is one function to resolve; optional ones may be missing.
type symbol struct {
	name     string
	dst      *uintptr
	optional bool
}

func (f *ncclFuncs) symbols() []symbol {
	return []symbol{
		{"ncclGetVersion", &f.getVersion, false},
		{"ncclGetUniqueId", &f.getUniqueID, false},
		{"ncclCommInitRank", &f.commInitRank, false},
		{"ncclAllReduce", &f.allReduce, false},
		{"ncclBroadcast", &f.broadcast, false},
		{"ncclAllGather", &f.allGather, false},
		{"ncclReduceScatter", &f.reduceScatter, false},
		{"ncclGroupStart", &f.groupStart, false},
		{"ncclGroupEnd", &f.groupEnd, false},
		{"ncclCommFinalize", &f.commFinalize, true}, // 2.14+
		{"ncclCommDestroy", &f.commDestroy, false},
		{"ncclCommAbort", &f.commAbort, false},
		{"ncclCommGetAsyncError", &f.commGetAsyncError, false},
		{"ncclCommCount", &f.commCount, false},
		{"ncclCommCuDevice", &f.commCuDevice, false},
		{"ncclCommUserRank", &f.commUserRank, false},
		{"ncclGetErrorString", &f.getErrorString, false},
		{"ncclGetLastError", &f.getLastError, true}, // 2.13.4+
	}
}

func (f *cudaFuncs) symbols() []symbol {
	return []symbol{
		{"cudaSetDevice", &f.setDevice, false},
		{"cudaGetDevice", &f.getDevice, false},
		{"cudaGetDeviceCount", &f.getDeviceCount, false},
		{"cudaStreamCreateWithFlags", &f.streamCreateWithFlags, false},
		{"cudaStreamQuery", &f.streamQuery, false},
		{"cudaStreamSynchronize", &f.streamSynchronize, false},
		{"cudaStreamDestroy", &f.streamDestroy, false},
		{"cudaMalloc", &f.malloc, false},
		{"cudaFree", &f.free, false},
		{"cudaMemcpy", &f.memcpy, false},
		{"cudaGetErrorString", &f.getErrorString, false},
		{"cudaRuntimeGetVersion", &f.runtimeGetVersion, false},
		{"cudaDriverGetVersion", &f.driverGetVersion, false},
	}
}

// Load finds and loads the CUDA runtime and NCCL. On failure the error
// lists every place tried for each library that could not be loaded, with
// dlerror's text.
func Load(opts LoadOptions) (*Library, error) {
	if opts.NCCLPath == "" {
		opts.NCCLPath = os.Getenv(EnvNCCLLib)
	}
	if opts.CUDARTPath == "" {
		opts.CUDARTPath = os.Getenv(EnvCUDARTLib)
	}
	dirs, note := opts.Dirs, ""
	if dirs == nil {
		dirs, note = DefaultDirs()
	}
	l := &Library{}
	var errs []error
	p, err := open(libSpec{
		what: "the CUDA runtime", names: cudartNames, env: EnvCUDARTLib, explicit: opts.CUDARTPath,
		hint: "pip's nvidia-cuda-runtime puts it in site-packages/nvidia/cuda_runtime/lib or nvidia/cu13/lib",
	}, dirs, note, !opts.NoLoaderPath, func(h uintptr) error {
		if err := resolve(h, l.cuda.symbols()); err != nil {
			return err
		}
		return l.driverSupportsRuntime()
	})
	l.cudartPath = p
	errs = append(errs, err)
	p, err = open(libSpec{
		what: "NCCL", names: ncclNames, env: EnvNCCLLib, explicit: opts.NCCLPath,
		hint: "pip's nvidia-nccl-cu12 / nvidia-nccl-cu13 put it in site-packages/nvidia/nccl/lib",
	}, dirs, note, !opts.NoLoaderPath, func(h uintptr) error {
		return resolve(h, l.nccl.symbols())
	})
	l.ncclPath = p
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

// NCCLPath and CUDARTPath return the files that were loaded (or the plain
// file name when the dynamic loader found it).
func (l *Library) NCCLPath() string   { return l.ncclPath }
func (l *Library) CUDARTPath() string { return l.cudartPath }

// libSpec describes one library to find.
type libSpec struct {
	what     string
	names    []string
	env      string
	explicit string
	hint     string
}

// open tries the candidates of spec in order and returns the first that
// dlopen accepts and accept approves.
func open(spec libSpec, dirs []string, note string, loader bool, accept func(h uintptr) error) (string, error) {
	var tried []string
	try := func(path string) (bool, string) {
		h, err := dlopen(path)
		if err != nil {
			return false, err.Error()
		}
		if err := accept(h); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
	if spec.explicit != "" {
		if ok, why := try(spec.explicit); ok {
			return spec.explicit, nil
		} else {
			tried = append(tried, fmt.Sprintf("$%s=%s: %s", spec.env, spec.explicit, why))
		}
		return "", loadError(spec, tried, "")
	}
	if loader {
		for _, n := range spec.names {
			if ok, why := try(n); ok {
				return n, nil
			} else {
				tried = append(tried, fmt.Sprintf("%s via the dynamic loader (LD_LIBRARY_PATH=%q, ld.so cache): %s",
					n, os.Getenv("LD_LIBRARY_PATH"), why))
			}
		}
	}
	for _, d := range dirs {
		var missing []string
		for _, n := range spec.names {
			path := filepath.Join(d, n)
			if _, err := os.Stat(path); err != nil {
				missing = append(missing, n)
				continue
			}
			if ok, why := try(path); ok {
				return path, nil
			} else {
				tried = append(tried, fmt.Sprintf("%s: %s", path, why))
			}
		}
		if len(missing) > 0 {
			tried = append(tried, fmt.Sprintf("%s: no %s", d, strings.Join(missing, ", ")))
		}
	}
	return "", loadError(spec, tried, note)
}

func loadError(spec libSpec, tried []string, note string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "nccl: cannot load %s (%s); tried:", spec.what, spec.names[0])
	if len(tried) == 0 {
		b.WriteString("\n  nothing (no explicit path, loader path skipped, no folders)")
	}
	for _, t := range tried {
		b.WriteString("\n  " + t)
	}
	if note != "" {
		b.WriteString("\n  " + note)
	}
	fmt.Fprintf(&b, "\nset %s to the full path of %s (%s)", spec.env, spec.names[0], spec.hint)
	return errors.New(b.String())
}

// dlopen opens a shared library, returning dlerror's text on failure.
func dlopen(path string) (uintptr, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [1024]C.char
	h := C.ug_dlopen(cpath, &buf[0], C.size_t(len(buf)))
	if h == 0 {
		return 0, errors.New(C.GoString(&buf[0]))
	}
	return uintptr(h), nil
}

// resolve looks up syms in the library h.
func resolve(h uintptr, syms []symbol) error {
	var missing []string
	for _, s := range syms {
		name := C.CString(s.name)
		p := C.ug_dlsym(C.uintptr_t(h), name)
		C.free(unsafe.Pointer(name))
		*s.dst = uintptr(p)
		if p == 0 && !s.optional {
			missing = append(missing, s.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("loaded, but it lacks %s (too old, or not this library?)", strings.Join(missing, ", "))
	}
	return nil
}

// driverSupportsRuntime rejects a CUDA runtime newer than the installed
// driver, so that the search moves on to an older runtime. Without a
// driver (version 0) the runtime is kept: later calls report the problem.
func (l *Library) driverSupportsRuntime() error {
	rt, drv, err := l.CUDAVersions()
	if err != nil || drv == 0 {
		return nil
	}
	if int(rt)/1000 > int(drv)/1000 {
		return fmt.Errorf("CUDA runtime %v needs a newer driver than this one (supports CUDA %v)", rt, drv)
	}
	return nil
}

// DefaultDirs returns the folders searched after the loader path: CUDA and
// NCCL install folders (also from $CUDA_HOME, $CUDA_PATH, $NCCL_HOME,
// $CONDA_PREFIX) and, for every Python install found, the folders where
// pip's nvidia-nccl / nvidia-cuda-runtime wheels and PyTorch put their
// libraries. note describes the Python search when it found nothing.
func DefaultDirs() (dirs []string, note string) {
	seen := make(map[string]bool)
	add := func(d string) {
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, env := range []string{"NCCL_HOME", "CUDA_HOME", "CUDA_PATH"} {
		if v := os.Getenv(env); v != "" {
			add(filepath.Join(v, "lib"))
			add(filepath.Join(v, "lib64"))
		}
	}
	for _, d := range []string{
		"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
		"/usr/local/cuda/targets/sbsa-linux/lib", "/usr/local/nccl/lib", "/opt/nccl/lib",
		"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/local/lib",
	} {
		add(d)
	}
	roots := []string{"/usr/lib", "/usr/local/lib", "/opt/conda/lib"}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".local", "lib"))
	}
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := os.Getenv(env); v != "" {
			roots = append(roots, filepath.Join(v, "lib"))
		}
	}
	var patterns []string
	for _, r := range roots {
		for _, pkgs := range []string{"site-packages", "dist-packages"} {
			base := filepath.Join(r, "python3*", pkgs)
			patterns = append(patterns, base)
			for _, sub := range []string{"nvidia/nccl/lib", "nvidia/cuda_runtime/lib", "nvidia/cu13/lib", "nvidia/cu12/lib", "torch/lib"} {
				matches, _ := filepath.Glob(filepath.Join(base, sub))
				for _, m := range matches {
					add(m)
				}
			}
		}
	}
	found := false
	for _, d := range dirs {
		found = found || strings.Contains(d, "-packages")
	}
	if !found {
		note = "Python installs: no nvidia/nccl, nvidia/cuda_runtime, nvidia/cu13, nvidia/cu12 or torch/lib folder under " +
			strings.Join(patterns, ", ")
	}
	return dirs, note
}
