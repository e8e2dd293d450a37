package collective

import "golang.org/x/sys/cpu"

// haveAVX reports whether the CPU and OS support 256-bit AVX registers.
var haveAVX = cpu.X86.HasAVX

// addAVX adds n float32s (n a multiple of 32) from src into dst.
//
//go:noescape
func addAVX(dst, src *float32, n int)

// addVector adds the longest prefix it can with AVX and returns its length.
func addVector(dst, src []float32) int {
	n := len(dst) &^ 31
	if !haveAVX || n == 0 {
		return 0
	}
	addAVX(&dst[0], &src[0], n)
	return n
}
