// Package cmem tunes the C allocator that libtorch's CPU tensors come from.
//
// A training step allocates and frees thousands of tensors whose sizes vary with the caption
// lengths of the batch. glibc's malloc raises its mmap threshold each time a large block is
// freed, so later blocks of that size come from the heap, where freed memory is kept rather
// than returned: resident memory climbs for hundreds of steps although nothing leaks. Trimming
// the heap at each log interval returns it. (Fixing the mmap threshold low instead was measured
// to double a GRPO step's time: every tensor above it was mapped and unmapped by the kernel.)
package cmem

// #include <malloc.h>
import "C"

import "runtime/debug"

// Trim returns free memory to the operating system: the C heap's, then the Go heap's (a
// collection, which also runs the finalizers of any tensor handle left to the garbage collector).
func Trim() {
	debug.FreeOSMemory()
	C.malloc_trim(0)
}
