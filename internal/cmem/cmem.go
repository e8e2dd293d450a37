// Package cmem tunes the C allocator that libtorch's CPU tensors come from.
//
// A training step allocates and frees thousands of tensors whose sizes vary with the caption
// lengths of the batch. glibc's malloc raises its mmap threshold each time a large block is
// freed, so later blocks of that size come from the heap instead, where freed memory is kept
// rather than returned: resident memory climbs for hundreds of steps although nothing leaks.
// Fixing the threshold, and trimming the heap now and then, keeps resident memory flat.
package cmem

// #include <malloc.h>
import "C"

// Tune fixes malloc's mmap threshold at 128 KiB (blocks above it are mapped and unmapped
// directly, never kept) and its trim threshold at 1 MiB.
func Tune() {
	C.mallopt(C.M_MMAP_THRESHOLD, 128<<10)
	C.mallopt(C.M_TRIM_THRESHOLD, 1<<20)
}

// Trim returns free heap memory to the operating system.
func Trim() { C.malloc_trim(0) }
