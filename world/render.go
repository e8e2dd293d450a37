package world

import "math"

// subsamples is the number of sample points per pixel along each axis used to
// anti-alias shape edges.
const subsamples = 4

// Render draws a scene on a Size x Size RGB canvas. Each pixel is the
// background blended with the objects by the fraction of its area they cover.
// Objects with invalid attributes or cells are skipped.
func (c Config) Render(s Scene) Image {
	n := c.Size
	im := NewImage(3, n, n)
	bg := s.Background.RGB()
	plane := n * n
	for ch := range 3 {
		p := im.Pix[ch*plane : (ch+1)*plane]
		for i := range p {
			p[i] = bg[ch]
		}
	}
	for _, o := range s.Objects {
		if !o.Shape.Valid() || !o.Color.Valid() || !o.Size.Valid() || !ValidCell(o.Cell) {
			continue
		}
		c.draw(im, o)
	}
	return im
}

// draw blends one object into im.
func (c Config) draw(im Image, o Object) {
	cx, cy := c.cellCentre(o.Cell)
	cx += float64(o.DX)
	cy += float64(o.DY)
	r := c.radius(o.Size)
	rgb := o.Color.RGB()
	n := c.Size
	plane := n * n
	x0, x1 := clampPix(cx-r-1, n), clampPix(cx+r+1, n)
	y0, y1 := clampPix(cy-r-1, n), clampPix(cy+r+1, n)
	// Sample offsets in units of r: row y's are vs, column x's are us.
	const step = 1.0 / subsamples
	inv := 1 / r
	var us, vs [subsamples]float64
	for y := y0; y <= y1; y++ {
		for k := range vs {
			vs[k] = (float64(y) + (float64(k)+0.5)*step - cy) * inv
		}
		for x := x0; x <= x1; x++ {
			for k := range us {
				us[k] = (float64(x) + (float64(k)+0.5)*step - cx) * inv
			}
			hits := 0
			for _, v := range vs {
				for _, u := range us {
					if inside(o.Shape, u, v) {
						hits++
					}
				}
			}
			if hits == 0 {
				continue
			}
			a := float32(hits) / (subsamples * subsamples)
			i := y*n + x
			for ch := range 3 {
				p := &im.Pix[ch*plane+i]
				*p = *p*(1-a) + rgb[ch]*a
			}
		}
	}
}

// inside reports whether the point (u, v), in units of the object's radius
// relative to its centre (v grows downwards), lies inside the shape.
func inside(s Shape, u, v float64) bool {
	au, av := math.Abs(u), math.Abs(v)
	switch s {
	case Circle:
		return u*u+v*v <= 1
	case Square:
		return au <= 0.85 && av <= 0.85
	case Triangle: // pointing up: apex at v = -1, base at v = 0.75
		return v >= -1 && v <= 0.75 && au <= 0.62*(v+1)
	case Cross:
		const arm = 0.34
		return (au <= arm && av <= 1) || (av <= arm && au <= 1)
	}
	return false
}

// clampPix converts a coordinate to a pixel index inside [0, n-1].
func clampPix(v float64, n int) int {
	return min(max(int(math.Floor(v)), 0), n-1)
}
