package embed

import (
	"math"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/world"
)

// convSeed fixes the random weights of the conv embedder.
const convSeed = 0xc0de_0001

// convGrid is the side of the grid each layer's activations are pooled to.
const convGrid = 4

// convNet is a frozen, randomly initialised convolutional net:
//
//	conv3x3 3->16 stride 2, ReLU   at 1/2 resolution -> block 1 (pooled 4x4)
//	maxpool 2
//	conv3x3 16->32, ReLU           at 1/4 resolution -> block 2 (pooled 4x4)
//	maxpool 2
//	conv3x3 32->32, ReLU           at 1/8 resolution -> block 3 (pooled 4x4)
//
// Striding and pooling early keeps it near 0.3 ms per 32x32 image on one
// core (a 3x3 kernel at stride 2 still sees every pixel, so small objects
// are not skipped). Activations are kept channel-last (HWC).
type convNet struct {
	layers [3]convLayer
}

// convLayer is a same-padded 3x3 convolution with bias and ReLU. Output
// channels come in groups of convLanes; the weights of a group are laid out
// [k][lane], where k = (ky*3+kx)*in + ci indexes the input patch.
type convLayer struct {
	in, out, stride int
	w, b            []float32
}

// convLanes is the number of output channels computed together, each in its
// own register accumulator.
const convLanes = 8

func newConvNet() *convNet {
	rng := rand.New(rand.NewPCG(convSeed, 0))
	chans := [...]int{3, 16, 32, 32}
	n := &convNet{}
	for l := range n.layers {
		in, out := chans[l], chans[l+1]
		std := math.Sqrt(2 / float64(9*in)) // He initialisation
		layer := convLayer{in: in, out: out, stride: 1, w: make([]float32, 9*in*out), b: make([]float32, out)}
		for i := range layer.w {
			layer.w[i] = float32(rng.NormFloat64() * std)
		}
		for i := range layer.b {
			layer.b[i] = float32(rng.NormFloat64() * 0.05)
		}
		n.layers[l] = layer
	}
	n.layers[0].stride = 2
	return n
}

func (n *convNet) blocks() []int {
	b := make([]int, len(n.layers))
	for l, layer := range n.layers {
		b[l] = convGrid * convGrid * layer.out
	}
	return b
}

func (n *convNet) features(im world.Image, dst []float32) {
	h, w := im.H, im.W
	x := make([]float32, h*w*3)
	plane := h * w
	for i := range plane {
		x[3*i] = im.Pix[i]
		x[3*i+1] = im.Pix[plane+i]
		x[3*i+2] = im.Pix[2*plane+i]
	}
	off := 0
	for l, layer := range n.layers {
		if l > 0 {
			x, h, w = maxPool2(x, h, w, n.layers[l-1].out)
		}
		x, h, w = layer.apply(x, h, w)
		gridPool(x, h, w, layer.out, dst[off:off+convGrid*convGrid*layer.out])
		off += convGrid * convGrid * layer.out
	}
}

// apply runs the layer on an h x w HWC input and returns the ReLU output and
// its height and width (the input's divided by the stride, rounded up).
// For each output pixel it gathers the 3x3 input patch (zeros outside the
// map), then accumulates convLanes output channels at a time in local
// variables over the patch, skipping zero inputs (common after ReLU).
func (c convLayer) apply(in []float32, h, w int) ([]float32, int, int) {
	oh, ow := (h+c.stride-1)/c.stride, (w+c.stride-1)/c.stride
	out := make([]float32, oh*ow*c.out)
	k := 9 * c.in
	patch := make([]float32, k)
	for y := range oh {
		for x := range ow {
			for ky := range 3 {
				iy := y*c.stride + ky - 1
				for kx := range 3 {
					ix := x*c.stride + kx - 1
					dst := patch[(ky*3+kx)*c.in : (ky*3+kx+1)*c.in]
					if iy < 0 || iy >= h || ix < 0 || ix >= w {
						clear(dst)
						continue
					}
					copy(dst, in[(iy*w+ix)*c.in:])
				}
			}
			o := out[(y*ow+x)*c.out : (y*ow+x+1)*c.out]
			for g := 0; g < c.out; g += convLanes {
				wg := c.w[g*k : (g+convLanes)*k]
				b := (*[convLanes]float32)(c.b[g:])
				a0, a1, a2, a3, a4, a5, a6, a7 := b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
				for j, v := range patch {
					if v == 0 {
						continue
					}
					ww := (*[convLanes]float32)(wg[j*convLanes:])
					a0 += v * ww[0]
					a1 += v * ww[1]
					a2 += v * ww[2]
					a3 += v * ww[3]
					a4 += v * ww[4]
					a5 += v * ww[5]
					a6 += v * ww[6]
					a7 += v * ww[7]
				}
				og := (*[convLanes]float32)(o[g:])
				og[0], og[1], og[2], og[3] = max(a0, 0), max(a1, 0), max(a2, 0), max(a3, 0)
				og[4], og[5], og[6], og[7] = max(a4, 0), max(a5, 0), max(a6, 0), max(a7, 0)
			}
		}
	}
	return out, oh, ow
}

// maxPool2 halves an HWC map with 2x2 max pooling (an odd last row or column
// is dropped; a side of 1 is kept).
func maxPool2(in []float32, h, w, ch int) ([]float32, int, int) {
	oh, ow := max(h/2, 1), max(w/2, 1)
	out := make([]float32, oh*ow*ch)
	for y := range oh {
		for x := range ow {
			o := out[(y*ow+x)*ch : (y*ow+x+1)*ch]
			for dy := range 2 {
				iy := min(2*y+dy, h-1)
				for dx := range 2 {
					ix := min(2*x+dx, w-1)
					p := in[(iy*w+ix)*ch : (iy*w+ix+1)*ch]
					p = p[:len(o)]
					for k, v := range p {
						if v > o[k] {
							o[k] = v
						}
					}
				}
			}
		}
	}
	return out, oh, ow
}

// gridPool averages an HWC map over a convGrid x convGrid grid of regions
// into dst, laid out [gy][gx][ch]. Regions are never empty, even when the map
// is smaller than the grid.
func gridPool(in []float32, h, w, ch int, dst []float32) {
	for gy := range convGrid {
		y0, y1 := span(gy, convGrid, h)
		for gx := range convGrid {
			x0, x1 := span(gx, convGrid, w)
			o := dst[(gy*convGrid+gx)*ch : (gy*convGrid+gx+1)*ch]
			clear(o)
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					p := in[(y*w+x)*ch : (y*w+x+1)*ch]
					p = p[:len(o)]
					for k, v := range p {
						o[k] += v
					}
				}
			}
			inv := 1 / float32((y1-y0)*(x1-x0))
			for k := range o {
				o[k] *= inv
			}
		}
	}
}

// span returns the pixel range [lo, hi) of region i of n over a side of size
// length, never empty.
func span(i, n, size int) (lo, hi int) {
	lo, hi = i*size/n, (i+1)*size/n
	if hi <= lo {
		lo = min(lo, size-1)
		hi = lo + 1
	}
	return lo, hi
}
