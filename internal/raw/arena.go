// Package raw runs libtorch operations through gotch's C layer (package libtch) on raw tensor
// handles, without gotch's ts.Tensor wrapper.
//
// A ts.Tensor costs tens of microseconds per operation (a 100 KB Go ballast per tensor, a global
// mutex and name map, a finalizer); a raw call costs about a microsecond. Model code that runs
// thousands of small operations per step (a transformer forward pass, a sampling loop) therefore
// runs them through an Arena: every handle an operation returns is recorded in the arena and freed
// by Arena.Free at the end of the step. Autograd keeps the tensors it saved for backward alive by
// reference, so freeing the handles after a forward pass does not break a later backward pass.
//
// Errors: libtorch reports an error through a thread-local slot. The arena checks that slot after
// every call; the first error is kept, every later operation of the arena returns a nil handle
// without calling libtorch, and Err or Free returns the error. Callers therefore check the error
// once, at the end of a step, rather than after every operation.
//
// Threads: libtorch's error slot and grad mode are thread-local, so an Arena and every tensor it
// touches must be used from one goroutine locked to its OS thread (runtime.LockOSThread).
package raw

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

// Tensor is a raw libtorch tensor handle (a pointer to a C++ torch::Tensor).
type Tensor = lib.Ctensor

// Arena owns the raw tensor handles created by its operations until Free.
// The zero value is not usable: create one with New.
type Arena struct {
	handles []Tensor
	err     error
	// out is the result slot passed to libtch's functions. It lives on the Go heap and holds
	// only a C pointer, so passing its address to C is allowed.
	out *Tensor
	// device is the libtorch device code new tensors are created on (-1 CPU, i>=0 CUDA i).
	device int32
	// created counts handles recorded since New, for tests.
	created int
}

// New returns an empty arena that creates tensors on the device with libtorch code device
// (-1 for the CPU, i >= 0 for CUDA device i; gotch.Device.CInt gives it).
func New(device int32) *Arena {
	return &Arena{out: new(Tensor), device: device, handles: make([]Tensor, 0, 256)}
}

// Device returns the libtorch device code of tensors the arena creates.
func (a *Arena) Device() int32 { return a.device }

// Err returns the first error an operation of the arena met since the last Free, or nil.
func (a *Arena) Err() error { return a.err }

// Len returns the number of handles the arena currently owns.
func (a *Arena) Len() int { return len(a.handles) }

// Created returns the number of handles the arena has recorded since New.
func (a *Arena) Created() int { return a.created }

// Fail records err as the arena's error if it has none yet (for errors found by Go code, such
// as a shape check, that should stop the rest of a step like a libtorch error does).
func (a *Arena) Fail(err error) {
	if a.err == nil && err != nil {
		a.err = err
	}
}

// Free frees every handle the arena owns and returns the first error met since the last Free
// (the arena is reset and can be used again).
func (a *Arena) Free() error {
	for i, h := range a.handles {
		lib.AtFree(h)
		a.handles[i] = nil
	}
	a.handles = a.handles[:0]
	err := a.err
	a.err = nil
	return err
}

// Release removes h from the arena without freeing it: the caller becomes its owner and must
// free it with FreeHandle. It reports whether h was owned by the arena.
func (a *Arena) Release(h Tensor) bool {
	for i := len(a.handles) - 1; i >= 0; i-- {
		if a.handles[i] == h {
			a.handles = append(a.handles[:i], a.handles[i+1:]...)
			return true
		}
	}
	return false
}

// Adopt makes the arena the owner of h, which it will free on Free.
func (a *Arena) Adopt(h Tensor) Tensor {
	if h != nil {
		a.handles = append(a.handles, h)
		a.created++
	}
	return h
}

// FreeHandle frees a handle that no arena owns.
func FreeHandle(h Tensor) {
	if h != nil {
		lib.AtFree(h)
	}
}

// ok reports whether operations may run (no earlier error).
func (a *Arena) ok() bool { return a.err == nil }

// begin clears the result slot before a libtch call: on error libtch leaves it unwritten.
func (a *Arena) begin() *Tensor {
	*a.out = nil
	return a.out
}

// take checks libtorch's error slot after a call that wrote its result into a.out and records
// the result. op names the operation in an error.
func (a *Arena) take(op string) Tensor {
	if err := lastErr(op); err != nil {
		a.err = err
		return nil
	}
	h := *a.out
	*a.out = nil
	if h == nil {
		a.err = fmt.Errorf("libtorch %s: returned no tensor", op)
		return nil
	}
	a.handles = append(a.handles, h)
	a.created++
	return h
}

// check checks libtorch's error slot after a call that returns no tensor.
func (a *Arena) check(op string) {
	if err := lastErr(op); err != nil && a.err == nil {
		a.err = err
	}
}

// lastErr reads and clears libtorch's thread-local error message.
func lastErr(op string) error {
	p := lib.GetAndResetLastErr()
	if p == nil {
		return nil
	}
	cp := (*C.char)(unsafe.Pointer(p))
	msg := C.GoString(cp)
	C.free(unsafe.Pointer(cp))
	return fmt.Errorf("libtorch %s: %s", op, trimMessage(msg))
}

// trimMessage drops the C++ backtrace libtorch appends to its messages.
func trimMessage(s string) string {
	if i := strings.Index(s, "\nException raised from"); i >= 0 {
		s = s[:i]
	}
	n := 3
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			n--
			if n == 0 {
				return s[:i]
			}
		}
	}
	return s
}
