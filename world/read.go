package world

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Reading turns an image back into a scene: the judge that checks what a model
// drew. A Reader fits, in each cell, every object the world can draw there
// (each shape and size at each jitter offset, rendered once by Render itself so
// the templates match the renderer's anti-aliasing exactly) against the image:
//
//  1. The background is the per-channel median of the whole image (objects
//     cover well under half of it), snapped to the nearest background colour
//     for the scene; the measured colour, not the palette one, is what the
//     fits subtract, which absorbs a global colour shift.
//  2. In a cell, for each template with coverage a (the fraction of each pixel
//     the object covers), the image minus the background, d, is modelled as
//     a·k for a free colour offset k. The least-squares k is Σ a·d / Σ a², and
//     the template that explains most energy, |Σ a·d|² / Σ a², wins (a
//     matched filter). This gives shape, size and jitter (DX, DY).
//  3. The colour is the palette colour c whose offset from the background,
//     scaled by a gain g in [minGain, maxGain], is nearest to k: blur and a
//     VQ decoder dim an object towards the background (g < 1) but keep the
//     direction of its colour, so a dimmed yellow is still yellow, not orange.
//  4. The cell holds an object when that gain is at least occupiedGain; noise
//     on an empty cell gives a gain near 0, a rendered object a gain of 1.
type Reader struct {
	cfg   Config
	cells [NumCells][][]template // by cell, then kernel of readKernels
}

// template is one object's coverage over the pixels it touches.
type template struct {
	shape  Shape
	size   Size
	dx, dy int
	idx    []int32   // pixel indices (y*Size + x) with coverage > 0
	a      []float32 // coverage of those pixels, in (0, 1]
	norm2  float64   // Σ a²
}

// Reading thresholds, in units of an object's colour offset from the background.
const (
	occupiedGain = 0.3  // smallest gain that counts as an object
	minGain      = 0.2  // gains allowed when matching a dimmed colour
	maxGain      = 1.25 // and a brightened one
)

// readKernels are the blurs the templates come in. A decoder's output is
// smoother than a render, and a blurred object matches a template blurred the
// same way best, where a sharp template favours the most compact shape (the
// circle) and a wrongly blurred one confuses the shapes of small objects. The
// family is every 3x3 kernel with the symmetries of the square (centre weight
// 1, edge weight e, corner weight c <= e, e and c on a grid of quarters, the
// first being no blur) and two wider Gaussians; Read picks one kernel for the
// whole image, the one that explains the most of it, since one decoder drew
// every object alike.
var readKernels = func() [][]float64 {
	var ks [][]float64
	q := []float64{0, 0.25, 0.5, 0.75, 1}
	for _, e := range q {
		for _, c := range q {
			if c <= e {
				ks = append(ks, []float64{c, e, c, e, 1, e, c, e, c})
			}
		}
	}
	for _, sigma := range []float64{1.1, 1.4} {
		const rad = 3
		k := make([]float64, 0, (2*rad+1)*(2*rad+1))
		for y := -rad; y <= rad; y++ {
			for x := -rad; x <= rad; x++ {
				k = append(k, math.Exp(-float64(x*x+y*y)/(2*sigma*sigma)))
			}
		}
		ks = append(ks, k)
	}
	return ks
}()

// convolve returns the n x n plane p convolved with the square kernel k
// (odd width), normalised by the weight of the kernel inside the plane.
func convolve(p []float32, n int, k []float64) []float32 {
	kw := int(math.Sqrt(float64(len(k))))
	rad := kw / 2
	out := make([]float32, n*n)
	x0, y0, x1, y1 := n, n, -1, -1 // bounding box of p's support
	for i, v := range p {
		if v != 0 {
			x0, x1 = min(x0, i%n), max(x1, i%n)
			y0, y1 = min(y0, i/n), max(y1, i/n)
		}
	}
	for y := max(y0-rad, 0); y <= min(y1+rad, n-1); y++ {
		for x := max(x0-rad, 0); x <= min(x1+rad, n-1); x++ {
			var sum, norm float64
			for j := -rad; j <= rad; j++ {
				yy := y + j
				if yy < 0 || yy >= n {
					continue
				}
				for i := -rad; i <= rad; i++ {
					xx := x + i
					if xx < 0 || xx >= n {
						continue
					}
					w := k[(j+rad)*kw+i+rad]
					sum += w * float64(p[yy*n+xx])
					norm += w
				}
			}
			out[y*n+x] = float32(sum / norm)
		}
	}
	return out
}

// NewReader builds the reader of a world: 2 sizes x 4 shapes x (2·Jitter+1)²
// templates per cell, each sharp and at every blur of readBlurs. c must be
// valid.
func NewReader(c Config) (*Reader, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("world reader: %w", err)
	}
	r := &Reader{cfg: c}
	for cell := range r.cells {
		r.cells[cell] = make([][]template, len(readKernels))
	}
	// Templates are white objects rendered on black; coverage is recovered
	// from the red channel.
	bg, fg := Black.RGB()[0], White.RGB()[0]
	plane := c.Size * c.Size
	for cell := range NumCells {
		for size := range Size(NumSizes) {
			for shape := range Shape(NumShapes) {
				for dy := -c.Jitter; dy <= c.Jitter; dy++ {
					for dx := -c.Jitter; dx <= c.Jitter; dx++ {
						o := Object{Shape: shape, Color: White, Size: size, Cell: cell, DX: dx, DY: dy}
						im := c.Render(Scene{Objects: []Object{o}, Background: Black})
						cover := make([]float32, plane)
						for i, v := range im.Pix[:plane] {
							cover[i] = min(max((v-bg)/(fg-bg), 0), 1)
						}
						for ki, k := range readKernels {
							a := cover
							if ki > 0 {
								a = convolve(cover, c.Size, k)
							}
							t := template{shape: shape, size: size, dx: dx, dy: dy}
							for i, v := range a {
								if v < 1e-3 {
									continue
								}
								t.idx = append(t.idx, int32(i))
								t.a = append(t.a, v)
								t.norm2 += float64(v) * float64(v)
							}
							if len(t.idx) == 0 {
								return nil, fmt.Errorf("world reader: a %s %s in cell %d draws nothing on a %dx%d canvas", size, shape, cell, c.Size, c.Size)
							}
							r.cells[cell][ki] = append(r.cells[cell][ki], t)
						}
					}
				}
			}
		}
	}
	return r, nil
}

// Read recovers the scene drawn in im: the background and, in cell order, each
// object's shape, colour, size, cell and jitter. It returns an error when im is
// not a Size x Size RGB image or holds a value that is not a finite number.
func (r *Reader) Read(im Image) (Scene, error) {
	n := r.cfg.Size
	if !im.Valid() {
		return Scene{}, errors.New("world reader: malformed image: its shape does not match its pixels")
	}
	if im.C != 3 || im.H != n || im.W != n {
		return Scene{}, fmt.Errorf("world reader: image is %dx%dx%d, want 3x%dx%d", im.C, im.H, im.W, n, n)
	}
	for _, v := range im.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return Scene{}, errors.New("world reader: image holds a value that is not a finite number")
		}
	}
	plane := n * n
	var bg [3]float64
	buf := make([]float32, plane)
	for ch := range 3 {
		copy(buf, im.Pix[ch*plane:(ch+1)*plane])
		slices.Sort(buf)
		bg[ch] = float64(buf[plane/2-1]+buf[plane/2]) / 2
	}
	s := Scene{Background: nearestBackground(bg)}
	d := make([]float64, 3*plane) // the image minus the background
	for ch := range 3 {
		for i, v := range im.Pix[ch*plane : (ch+1)*plane] {
			d[ch*plane+i] = float64(v) - bg[ch]
		}
	}
	// Per kernel, the best template of each cell; the kernel whose best
	// templates explain the most energy over all cells wins.
	nk := len(readKernels)
	best := make([]int, nk*NumCells)
	bestK := make([][3]float64, nk*NumCells)
	total := make([]float64, nk)
	for cell := range NumCells {
		for ki := range nk {
			ti, score, k := fitCell(d, plane, r.cells[cell][ki])
			best[ki*NumCells+cell], bestK[ki*NumCells+cell] = ti, k
			total[ki] += score
		}
	}
	kernel := 0
	for ki := range nk {
		if total[ki] > total[kernel] {
			kernel = ki
		}
	}
	for cell := range NumCells {
		ti, k := best[kernel*NumCells+cell], bestK[kernel*NumCells+cell]
		col, gain := nearestColor(k, bg)
		if ti < 0 || gain < occupiedGain {
			continue
		}
		t := r.cells[cell][kernel][ti]
		s.Objects = append(s.Objects, Object{Shape: t.shape, Color: col, Size: t.size, Cell: cell, DX: t.dx, DY: t.dy})
	}
	return s, nil
}

// fitCell returns the template of ts that explains most of d, the image minus
// its background (three planes), that energy and the template's least-squares
// colour offset.
func fitCell(d []float64, plane int, ts []template) (best int, bestScore float64, bestK [3]float64) {
	best, bestScore = -1, -1
	for ti, t := range ts {
		var sum [3]float64
		for j, i := range t.idx {
			a := float64(t.a[j])
			sum[0] += a * d[i]
			sum[1] += a * d[plane+int(i)]
			sum[2] += a * d[2*plane+int(i)]
		}
		score := (sum[0]*sum[0] + sum[1]*sum[1] + sum[2]*sum[2]) / t.norm2
		if score > bestScore {
			best, bestScore = ti, score
			for ch := range 3 {
				bestK[ch] = sum[ch] / t.norm2
			}
		}
	}
	return best, bestScore, bestK
}

// nearestColor returns the palette colour whose offset from the background,
// times a gain in [minGain, maxGain], is nearest to k, with that gain before
// clamping.
func nearestColor(k, bg [3]float64) (Color, float64) {
	best, bestD, bestGain := Color(0), math.Inf(1), 0.0
	for c := range Color(NumColors) {
		rgb := c.RGB()
		var v [3]float64
		var vv, kv float64
		for ch := range 3 {
			v[ch] = float64(rgb[ch]) - bg[ch]
			vv += v[ch] * v[ch]
			kv += k[ch] * v[ch]
		}
		if vv == 0 {
			continue
		}
		g := kv / vv
		gc := min(max(g, minGain), maxGain)
		d := 0.0
		for ch := range 3 {
			e := k[ch] - gc*v[ch]
			d += e * e
		}
		if d < bestD {
			best, bestD, bestGain = c, d, g
		}
	}
	return best, bestGain
}

// nearestBackground returns the background colour nearest to rgb.
func nearestBackground(rgb [3]float64) Background {
	best, bestD := Background(0), math.Inf(1)
	for b := range Background(NumBackgrounds) {
		c := b.RGB()
		d := 0.0
		for ch := range 3 {
			e := rgb[ch] - float64(c[ch])
			d += e * e
		}
		if d < bestD {
			best, bestD = b, d
		}
	}
	return best
}

// ScoreReads scores read scenes against the true ones with the world's own
// judge: each read scene's oracle caption is scored by Understand against its
// true scene and the counts are pooled (MeanUnderstanding).
func ScoreReads(truth, read []Scene) (Understanding, error) {
	if len(truth) != len(read) {
		return Understanding{}, fmt.Errorf("world reader: %d true scenes but %d read ones", len(truth), len(read))
	}
	us := make([]Understanding, len(truth))
	for i := range truth {
		us[i] = Understand(truth[i], Oracle(read[i]))
	}
	return MeanUnderstanding(us), nil
}
