package images

import (
	"fmt"
	"image"
	"image/color"
)

// Planar is a float image in channel-major (CHW) layout with values in [0, 1]: the value of
// channel ch at row y and column x is Pix[(ch*H+y)*W+x]. It is what policies read and what
// rewards compare, whatever the images came from (rendered scenes, files, a decoder).
type Planar struct {
	C, H, W int
	Pix     []float32
}

// NewPlanar returns a black image of the given shape.
func NewPlanar(c, h, w int) Planar {
	return Planar{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// FromRGB8 returns the w x h image of 8-bit RGB pixels rgb (row-major, three bytes a pixel),
// each value scaled to [0, 1].
func FromRGB8(w, h int, rgb []uint8) Planar {
	im := NewPlanar(3, h, w)
	n := w * h
	for i := range n {
		for ch := range 3 {
			im.Pix[ch*n+i] = float32(rgb[3*i+ch]) / 255
		}
	}
	return im
}

// RGB8 returns the image's pixels as 8-bit RGB (row-major, three bytes a pixel; the inverse of
// FromRGB8), each value rounded with To8 as saving it as a PNG would; one channel is taken as grey.
func (im Planar) RGB8() ([]uint8, error) {
	if !im.Valid() || (im.C != 3 && im.C != 1) {
		return nil, fmt.Errorf("%dx%dx%d with %d values is not a 1- or 3-channel image", im.C, im.H, im.W, len(im.Pix))
	}
	n := im.H * im.W
	rgb := make([]uint8, 3*n)
	for j := range n {
		for c := range 3 {
			rgb[3*j+c] = To8(im.Pix[min(c, im.C-1)*n+j])
		}
	}
	return rgb, nil
}

// Planar returns the square's pixels as a float image.
func (s Square) Planar() Planar { return FromRGB8(s.Size, s.Size, s.RGB) }

// Valid reports whether the image's shape is positive and matches its pixels.
func (im Planar) Valid() bool {
	return im.C > 0 && im.H > 0 && im.W > 0 && len(im.Pix) == im.C*im.H*im.W
}

// At returns the value of channel ch at row y, column x.
func (im Planar) At(ch, y, x int) float32 { return im.Pix[(ch*im.H+y)*im.W+x] }

// ToRGBA converts the image to 8-bit RGBA, each pixel upscaled to a scale x scale block (nearest
// neighbour), for writing PNG figures. A scale below 1 is taken as 1; a single-channel image is
// drawn in grey; an image whose shape does not match its pixels gives an empty picture.
func (im Planar) ToRGBA(scale int) *image.RGBA {
	scale = max(scale, 1)
	if !im.Valid() {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	out := image.NewRGBA(image.Rect(0, 0, im.W*scale, im.H*scale))
	plane := im.H * im.W
	for y := range im.H {
		for x := range im.W {
			var rgb [3]uint8
			for ch := range 3 {
				src := min(ch, im.C-1)
				rgb[ch] = To8(im.Pix[src*plane+y*im.W+x])
			}
			px := color.RGBA{R: rgb[0], G: rgb[1], B: rgb[2], A: 255}
			for dy := range scale {
				for dx := range scale {
					out.SetRGBA(x*scale+dx, y*scale+dy, px)
				}
			}
		}
	}
	return out
}

// Is8Bit reports whether every value is exactly k/255 for an integer k, so that an 8-bit PNG of
// the image (ToRGBA, then FromRGB8) gives back the same float32 values.
func (im Planar) Is8Bit() bool {
	for _, v := range im.Pix {
		if !(v >= 0 && v <= 1) || float32(To8(v))/255 != v {
			return false
		}
	}
	return true
}

// To8 maps a value in [0, 1] to a byte, rounding to nearest and clamping values outside.
func To8(v float32) uint8 {
	switch {
	case v != v || v <= 0: // NaN or negative
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}
