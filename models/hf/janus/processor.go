package janus

import (
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/hf"
)

// ImageProcessor is transformers' Janus image processor (its PIL form) on an 8-bit RGB
// image: the longer side resized to Size (the shorter one to max(round(side * Size / longer),
// MinSize)) with Pillow's filter, the rest of the square filled with the background colour
// int(mean * 255) (the image centred), rescaled and normalised to [3, Size, Size].
type ImageProcessor struct {
	Size, MinSize int
	Resample      int // Pillow's filter number (3: bicubic)
	Resize        bool
	Pad           bool
	Rescale       bool
	RescaleFactor float64
	Normalize     bool
	Mean, Std     []float32
	Background    [3]uint8
}

// loadImageProcessor reads dir/preprocessor_config.json; a folder without one gets
// Janus-Pro's processor (bicubic to the tower's image_size, mean and std 0.5 per channel).
func loadImageProcessor(dir string, v VisionConfig) (ImageProcessor, error) {
	p := ImageProcessor{Size: v.ImageSize, MinSize: 14, Resample: 3, Resize: true, Pad: true, Rescale: true,
		RescaleFactor: 1.0 / 255, Normalize: true, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
	pc, err := hf.ReadPreprocessorConfig(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.setBackground()
		return p, nil
	case err != nil:
		return p, err
	}
	if err := p.read(pc); err != nil {
		return p, fmt.Errorf("hf: %s: %w", pc.Path(), err)
	}
	switch {
	case p.Size != v.ImageSize:
		return p, fmt.Errorf("hf: %s: images of side %d, but the vision tower reads %d", pc.Path(), p.Size, v.ImageSize)
	case !p.Resize || !p.Pad:
		return p, fmt.Errorf("hf: %s: do_resize and do_pad false are not implemented", pc.Path())
	case p.Resample < 0 || p.Resample > 5:
		return p, fmt.Errorf("hf: %s: resample %d is not a Pillow filter", pc.Path(), p.Resample)
	}
	p.setBackground()
	return p, nil
}

// read sets the fields the file gives (the Janus image processor's); the statistics default to
// the PIL class's when the file has none: CLIP's.
func (p *ImageProcessor) read(pc *hf.PreprocessorConfig) error {
	var size *struct {
		H int `json:"height"`
		W int `json:"width"`
	}
	pc.Decode("size", &size)
	pc.Decode("image_size", &p.Size)
	pc.Decode("min_size", &p.MinSize)
	pc.Decode("resample", &p.Resample)
	pc.Decode("do_resize", &p.Resize)
	pc.Decode("do_pad", &p.Pad)
	pc.Decode("do_rescale", &p.Rescale)
	pc.Decode("rescale_factor", &p.RescaleFactor)
	pc.Decode("do_normalize", &p.Normalize)
	if err := pc.Err(); err != nil {
		return err
	}
	if size != nil {
		if size.H != size.W {
			return fmt.Errorf("size %dx%d: the Janus processor makes square images", size.H, size.W)
		}
		p.Size = size.H
	}
	p.Mean = pc.Channels("image_mean", []float32{0.48145466, 0.4578275, 0.40821073})
	p.Std = pc.Channels("image_std", []float32{0.26862954, 0.26130258, 0.27577711})
	return pc.Err()
}

func (p *ImageProcessor) setBackground() {
	for c := range 3 {
		p.Background[c] = uint8(math.Max(0, math.Min(255, math.Trunc(float64(p.Mean[c])*255))))
	}
}

// Preprocess returns the model input [3, Size, Size] (channel-major float32) of the w x h image
// of 8-bit RGB pixels rgb (row-major, three bytes a pixel).
func (p ImageProcessor) Preprocess(w, h int, rgb []uint8) ([]float32, error) {
	if w < 1 || h < 1 || len(rgb) != 3*w*h {
		return nil, fmt.Errorf("hf: an image of %dx%d needs %d bytes of RGB, not %d", w, h, 3*w*h, len(rgb))
	}
	long := max(w, h)
	delta := float64(p.Size) / float64(long)
	nh := max(int(math.RoundToEven(float64(h)*delta)), p.MinSize)
	nw := max(int(math.RoundToEven(float64(w)*delta)), p.MinSize)
	img := hf.PILResize(rgb, w, h, nw, nh, p.Resample)
	// Pad to a square around the centre.
	S := max(nw, nh)
	sq := make([]uint8, 3*S*S)
	for i := 0; i < S*S; i++ {
		copy(sq[3*i:3*i+3], p.Background[:])
	}
	top, left := (S-nh)/2, (S-nw)/2
	for y := range nh {
		copy(sq[3*((top+y)*S+left):3*((top+y)*S+left+nw)], img[3*y*nw:3*(y+1)*nw])
	}
	out := make([]float32, 3*S*S)
	for c := range 3 {
		plane := out[c*S*S : (c+1)*S*S]
		for i := range plane {
			u := sq[3*i+c]
			v := float32(u)
			if p.Rescale { // numpy: uint8 -> float64, times the factor, then float32
				v = float32(float64(u) * p.RescaleFactor)
			}
			if p.Normalize {
				v = (v - p.Mean[c]) / p.Std[c]
			}
			plane[i] = v
		}
	}
	return out, nil
}

// Processor returns the model's image preprocessing.
func (m *Model) Processor() ImageProcessor { return m.proc }

// PreprocessImage returns the pixel values [3, S, S] the Janus processor gives for a float image
// (values in [0, 1], 3 channels or 1 taken as grey), rounded to 8 bits first as a saved PNG is.
func (m *Model) PreprocessImage(im images.Planar) ([]float32, error) {
	rgb, err := im.RGB8()
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	return m.proc.Preprocess(im.W, im.H, rgb)
}
