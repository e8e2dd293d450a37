package collective

import "unsafe"

// littleEndian reports whether this machine stores integers little-endian.
// The ring sends raw float32 memory, so all ranks must agree; every
// supported platform is little-endian and Connect refuses the others.
func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// asBytes views the memory of f as bytes without copying.
func asBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}

// addInto sets dst[i] += src[i], with vector instructions where the
// machine has them (the results are the same bit for bit).
func addInto(dst, src []float32) {
	src = src[:len(dst)]
	if n := addVector(dst, src); n > 0 {
		dst, src = dst[n:], src[n:]
	}
	addGeneric(dst, src)
}

// addGeneric is the portable addInto. The unrolled body lets the compiler
// drop bounds checks and keeps several additions in flight.
func addGeneric(dst, src []float32) {
	src = src[:len(dst)]
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		d := dst[i : i+8 : i+8]
		s := src[i : i+8 : i+8]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
		d[4] += s[4]
		d[5] += s[5]
		d[6] += s[6]
		d[7] += s[7]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// maxInto sets dst[i] = max(dst[i], src[i]); a NaN on either side wins.
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	for i, s := range src {
		dst[i] = max(dst[i], s)
	}
}

// divide divides every element of dst by k.
func divide(dst []float32, k float32) {
	for i := range dst {
		dst[i] /= k
	}
}
