package vit

import (
	"fmt"

	"github.com/unigrpo/unigrpo/models/hf"
)

// Preprocess returns the model input of the w x h image of 8-bit RGB pixels rgb (row-major,
// three bytes a pixel): float32 [3, oh, ow] (channel-major), as transformers' PIL image
// processor makes it.
func (p *ImageProcessor) Preprocess(w, h int, rgb []uint8) (out []float32, oh, ow int, err error) {
	if w < 1 || h < 1 || len(rgb) != 3*w*h {
		return nil, 0, 0, fmt.Errorf("hf: an image of %dx%d needs %d bytes of RGB, not %d", w, h, 3*w*h, len(rgb))
	}
	img := rgb
	if p.Resize {
		nh, nw := p.Height, p.Width
		if p.Shortest > 0 {
			nh, nw = shortestEdge(h, w, p.Shortest)
		}
		if nh < 1 || nw < 1 {
			return nil, 0, 0, fmt.Errorf("hf: resizing %dx%d gives an empty image", w, h)
		}
		img = hf.PILResize(img, w, h, nw, nh, p.Resample)
		w, h = nw, nh
	}
	if p.Crop {
		img = centerCrop(img, w, h, p.CropW, p.CropH)
		w, h = p.CropW, p.CropH
	}
	out = make([]float32, 3*w*h)
	scale := p.RescaleFactor
	for c := range 3 {
		plane := out[c*w*h : (c+1)*w*h]
		for i := range plane {
			u := img[3*i+c]
			v := float32(u)
			if p.Rescale { // numpy: uint8 -> float64, times the factor, then float32
				v = float32(float64(u) * scale)
			}
			if p.Normalize { // float32 arithmetic, as numpy on a float32 image
				v = (v - p.Mean[c]) / p.Std[c]
			}
			plane[i] = v
		}
	}
	return out, h, w, nil
}

// shortestEdge is transformers' get_resize_output_image_size(default_to_square=False): the
// shorter side becomes size, the longer one int(size * long / short).
func shortestEdge(h, w, size int) (nh, nw int) {
	short, long := h, w
	if w <= h {
		short, long = w, h
	}
	newLong := int(float64(size*long) / float64(short))
	if w <= h {
		return newLong, size
	}
	return size, newLong
}

// centerCrop is transformers' center_crop on an HWC 8-bit image: the centred ch x cw window,
// top-left rounded down, and zero padding (centred, rounded up at the top-left) where the image
// is smaller than the window.
func centerCrop(img []uint8, w, h, cw, ch int) []uint8 {
	top, left := (h-ch)/2, (w-cw)/2
	if h-ch < 0 && (h-ch)%2 != 0 { // Python's // rounds down
		top--
	}
	if w-cw < 0 && (w-cw)%2 != 0 {
		left--
	}
	if top >= 0 && left >= 0 && top+ch <= h && left+cw <= w {
		out := make([]uint8, 3*cw*ch)
		for y := range ch {
			copy(out[3*y*cw:3*(y+1)*cw], img[3*((top+y)*w+left):3*((top+y)*w+left+cw)])
		}
		return out
	}
	// Pad to at least the window, then crop the shifted window out of the padded image.
	nh, nw := max(ch, h), max(cw, w)
	topPad, leftPad := (nh-h+1)/2, (nw-w+1)/2 // ceil
	padded := make([]uint8, 3*nw*nh)
	for y := range h {
		copy(padded[3*((topPad+y)*nw+leftPad):], img[3*y*w:3*(y+1)*w])
	}
	top += topPad
	left += leftPad
	y0, y1 := max(0, top), min(nh, top+ch)
	x0, x1 := max(0, left), min(nw, left+cw)
	out := make([]uint8, 3*cw*ch)
	for y := y0; y < y1; y++ {
		copy(out[3*(y-y0)*cw:], padded[3*(y*nw+x0):3*(y*nw+x1)])
	}
	return out
}
