package embed

import "github.com/unigrpo/unigrpo/world"

// colourGrid is the side of the grid of colour histograms.
const colourGrid = 6

// paletteSize is the number of reference colours pixels are assigned to: the
// object colours followed by the backgrounds.
const paletteSize = world.NumColors + world.NumBackgrounds

// colours describes where which object colours are, ignoring shape and
// background: every pixel is assigned to its nearest palette colour, and for
// each region the fraction of its pixels assigned to each object colour is
// kept (pixels nearest a background colour count for nothing), over two grids:
//
//   - block 1: the world's 3x3 cells (8 colours each);
//   - block 2: a finer 6x6 grid (8 colours each).
//
// It sees colour, position and amount of paint (size), barely shape, and not
// the background (which fills most of the canvas and would otherwise drown
// the objects).
type colours struct {
	palette [paletteSize][3]float32
}

func newColours() *colours {
	c := &colours{}
	for i := range world.NumColors {
		c.palette[i] = world.Color(i).RGB()
	}
	for i := range world.NumBackgrounds {
		c.palette[world.NumColors+i] = world.Background(i).RGB()
	}
	return c
}

func (c *colours) blocks() []int {
	return []int{world.NumCells * world.NumColors, colourGrid * colourGrid * world.NumColors}
}

func (c *colours) features(im world.Image, dst []float32) {
	h, w := im.H, im.W
	plane := h * w
	coarse := dst[:world.NumCells*world.NumColors]
	fine := dst[world.NumCells*world.NumColors:]
	clear(dst)
	var coarseN [world.NumCells]int
	var fineN [colourGrid * colourGrid]int
	for y := range h {
		cy := min(y*3/h, 2)
		gy := min(y*colourGrid/h, colourGrid-1)
		for x := range w {
			i := y*w + x
			cell := cy*3 + min(x*3/w, 2)
			region := gy*colourGrid + min(x*colourGrid/w, colourGrid-1)
			coarseN[cell]++
			fineN[region]++
			r, g, b := im.Pix[i], im.Pix[plane+i], im.Pix[2*plane+i]
			best, bestD := 0, float32(1e9)
			for k, p := range c.palette {
				dr, dg, db := r-p[0], g-p[1], b-p[2]
				if d := dr*dr + dg*dg + db*db; d < bestD {
					best, bestD = k, d
				}
			}
			if best >= world.NumColors {
				continue
			}
			coarse[cell*world.NumColors+best]++
			fine[region*world.NumColors+best]++
		}
	}
	normalise(coarse, coarseN[:])
	normalise(fine, fineN[:])
}

// normalise divides each region's counts by its number of pixels.
func normalise(hist []float32, pixels []int) {
	for r, n := range pixels {
		if n == 0 {
			continue
		}
		inv := 1 / float32(n)
		row := hist[r*world.NumColors : (r+1)*world.NumColors]
		for k := range row {
			row[k] *= inv
		}
	}
}
