package hf

import "math"

// Pillow's Image.resize on 8-bit RGB images, reproduced to the bit: transformers' PIL image
// processors (every family's preprocessing here) resize with it.

// pilFilter is one of Pillow's resampling filters: its kernel and its support (half-width) at
// scale 1.
type pilFilter struct {
	support float64
	kernel  func(float64) float64
}

func pilFilterOf(resample int) pilFilter {
	switch resample {
	case 1:
		return pilFilter{3, pilLanczos}
	case 2:
		return pilFilter{1, pilBilinear}
	}
	return pilFilter{2, pilBicubic}
}

// pilBicubic is Pillow's cubic convolution kernel with a = -0.5. The explicit float64
// conversions keep Go from fusing multiply-adds that Pillow's C does not fuse.
func pilBicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

func pilBilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func pilSinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func pilLanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return pilSinc(x) * pilSinc(x/3)
	}
	return 0
}

// pilPrecision is Pillow's fixed-point precision of 8-bit resampling coefficients.
const pilPrecision = 32 - 8 - 2

// pilCoeffs computes, for each of out output pixels along an axis of in input pixels, the first
// input pixel it reads, how many, and the fixed-point weights (ksize per output pixel), as
// Pillow's precompute_coeffs and normalize_coeffs_8bpc do.
func pilCoeffs(in, out int, f pilFilter) (bounds []int, kk []int32, ksize int) {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := f.support * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*out)
	kk = make([]int32, out*ksize)
	k := make([]float64, ksize)
	for xx := range out {
		center := float64(float64(xx)+0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > in {
			xmax = in
		}
		xmax -= xmin
		ww := 0.0
		for x := range xmax {
			w := f.kernel(float64(float64(float64(x+xmin)-center)+0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := range xmax {
			if ww != 0 {
				k[x] /= ww
			}
			v := float64(k[x] * (1 << pilPrecision)) // rounded before the ±0.5, as in C
			if k[x] < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v)
			} else {
				kk[xx*ksize+x] = int32(0.5 + v)
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, kk, ksize
}

// clip8 turns a fixed-point sum into a byte, as Pillow's clip8 does.
func clip8(v int64) uint8 {
	s := v >> pilPrecision
	switch {
	case s < 0:
		return 0
	case s > 255:
		return 255
	}
	return uint8(s)
}

// PILResize is Pillow's Image.resize((nw, nh), resample) of an 8-bit RGB image (HWC bytes):
// the horizontal pass over the rows the vertical pass reads, rounded to bytes, then the vertical
// pass. An axis whose size does not change is not resampled.
func PILResize(img []uint8, w, h, nw, nh, resample int) []uint8 {
	if w == nw && h == nh {
		return append([]uint8(nil), img...)
	}
	f := pilFilterOf(resample)
	src, sw := img, w
	var vb []int
	var vk []int32
	var vks int
	if nh != h {
		vb, vk, vks = pilCoeffs(h, nh, f)
	}
	if nw != w {
		first, last := 0, h
		if nh != h { // only the rows the vertical pass reads
			first = vb[0]
			last = vb[2*nh-2] + vb[2*nh-1]
			for i := range nh {
				vb[2*i] -= first
			}
		}
		hb, hk, hks := pilCoeffs(w, nw, f)
		tmp := make([]uint8, 3*nw*(last-first))
		for y := first; y < last; y++ {
			row := img[3*y*w : 3*(y+1)*w]
			dst := tmp[3*(y-first)*nw : 3*(y-first+1)*nw]
			for xx := range nw {
				xmin, n := hb[2*xx], hb[2*xx+1]
				k := hk[xx*hks : xx*hks+n]
				s0, s1, s2 := int64(1)<<(pilPrecision-1), int64(1)<<(pilPrecision-1), int64(1)<<(pilPrecision-1)
				for x, c := range k {
					p := row[3*(xmin+x):]
					s0 += int64(p[0]) * int64(c)
					s1 += int64(p[1]) * int64(c)
					s2 += int64(p[2]) * int64(c)
				}
				dst[3*xx], dst[3*xx+1], dst[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
		src, sw = tmp, nw
	}
	if nh == h {
		return src
	}
	out := make([]uint8, 3*sw*nh)
	for yy := range nh {
		ymin, n := vb[2*yy], vb[2*yy+1]
		k := vk[yy*vks : yy*vks+n]
		dst := out[3*yy*sw : 3*(yy+1)*sw]
		for xx := range sw {
			s0, s1, s2 := int64(1)<<(pilPrecision-1), int64(1)<<(pilPrecision-1), int64(1)<<(pilPrecision-1)
			for y, c := range k {
				p := src[3*((ymin+y)*sw+xx):]
				s0 += int64(p[0]) * int64(c)
				s1 += int64(p[1]) * int64(c)
				s2 += int64(p[2]) * int64(c)
			}
			dst[3*xx], dst[3*xx+1], dst[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return out
}
