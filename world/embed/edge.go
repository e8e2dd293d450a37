package embed

import (
	"math"

	"github.com/unigrpo/unigrpo/world"
)

// Edge descriptor sizes: a 3x3 grid of regions (one per world cell) with
// edgeBins signed orientation bins each.
const (
	edgeGrid = 3
	edgeBins = 16
	// edgeEps damps the contrast normalisation of nearly empty regions, in
	// units of summed gradient magnitude.
	edgeEps = 0.5
)

// edges is a histogram-of-oriented-gradients descriptor. Every pixel's
// gradient (taken on the channel where it is strongest) votes with its
// magnitude into 16 signed orientation bins (linear interpolation between
// bins) of the regions of a 3x3 grid aligned with the world's cells (bilinear
// interpolation between neighbouring region centres, which makes the vote
// robust to jitter); each region's histogram is then contrast-normalised.
// It sees outlines, so shape, position and size, and is nearly blind to
// colour. Among the variants tried (3x3 or 6x6 grids, 8 to 16 bins, hard or
// bilinear voting) this one made shape worth the most reward.
type edges struct{}

func (edges) blocks() []int { return []int{edgeGrid * edgeGrid * edgeBins} }

func (edges) features(im world.Image, dst []float32) {
	h, w := im.H, im.W
	plane := h * w
	clear(dst)
	for y := range h {
		up, down := max(y-1, 0), min(y+1, h-1)
		ry0, wy1 := regionWeights(y, h)
		for x := range w {
			left, right := max(x-1, 0), min(x+1, w-1)
			// The channel with the strongest gradient decides.
			var bx, by, bm float32
			for ch := range 3 {
				p := im.Pix[ch*plane:]
				dx := p[y*w+right] - p[y*w+left]
				dy := p[down*w+x] - p[up*w+x]
				if m := dx*dx + dy*dy; m > bm {
					bx, by, bm = dx, dy, m
				}
			}
			if bm < 1e-6 {
				continue
			}
			mag := float32(math.Sqrt(float64(bm)))
			pos := (math.Atan2(float64(by), float64(bx)) + math.Pi) / (2 * math.Pi) * edgeBins
			b0 := int(pos)
			frac := float32(pos - float64(b0))
			b0 %= edgeBins
			b1 := (b0 + 1) % edgeBins
			rx0, wx1 := regionWeights(x, w)
			for dy := range 2 {
				ry, wy := ry0+dy, 1-wy1
				if dy == 1 {
					wy = wy1
				}
				if ry < 0 || ry >= edgeGrid || wy == 0 {
					continue
				}
				for dx := range 2 {
					rx, wx := rx0+dx, 1-wx1
					if dx == 1 {
						wx = wx1
					}
					if rx < 0 || rx >= edgeGrid || wx == 0 {
						continue
					}
					v := mag * wy * wx
					hist := dst[(ry*edgeGrid+rx)*edgeBins:]
					hist[b0] += v * (1 - frac)
					hist[b1] += v * frac
				}
			}
		}
	}
	for r := 0; r < len(dst); r += edgeBins {
		hist := dst[r : r+edgeBins]
		var ss float32
		for _, v := range hist {
			ss += v * v
		}
		inv := 1 / float32(math.Sqrt(float64(ss)+edgeEps*edgeEps))
		for k := range hist {
			hist[k] *= inv
		}
	}
}

// regionWeights returns, for pixel i of a side of n pixels, the lower of the
// two grid regions whose centres surround it (possibly -1) and the weight of
// the upper one; the lower one gets 1 minus that weight.
func regionWeights(i, n int) (lo int, wHi float32) {
	f := (float64(i)+0.5)*edgeGrid/float64(n) - 0.5
	fl := math.Floor(f)
	return int(fl), float32(f - fl)
}
