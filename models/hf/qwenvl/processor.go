package qwenvl

import (
	"fmt"
	"math"
	"strings"

	"github.com/unigrpo/unigrpo/models/hf"
)

// ImageProcessor is Qwen2VLImageProcessor (the PIL one; Qwen2.5-VL uses it too) as its
// preprocessor_config.json sets it: smart_resize (both sides multiples of patch x merge, the
// area within [MinPixels, MaxPixels], the aspect ratio kept as well as that allows), Pillow's
// resize, rescale, normalize, and the patch layout of pixel_values.
//
// The resize is hf.PILResize (Pillow's to the bit); transformers' torchvision ("fast") processor
// resamples differently, and its configs get this PIL preprocessing.
type ImageProcessor struct {
	MinPixels, MaxPixels int
	Patch, Merge         int
	TemporalPatch        int
	Resize               bool
	Resample             int // PIL filter: 1 Lanczos, 2 bilinear, 3 bicubic
	Rescale              bool
	RescaleFactor        float64
	Normalize            bool
	Mean, Std            []float32 // one value per channel (3)
}

// imagePad is the placeholder a prompt holds once per image.
const imagePad = "<|image_pad|>"

// LoadImageProcessor reads dir/preprocessor_config.json, with Qwen2VLImageProcessor's
// defaults for what it leaves out.
func LoadImageProcessor(dir string) (*ImageProcessor, error) {
	pc, err := hf.ReadPreprocessorConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("%w (a Qwen2.5-VL folder has a preprocessor_config.json)", err)
	}
	p, err := parseImageProcessor(pc)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", pc.Path(), err)
	}
	return p, nil
}

// processorFields are the fields of preprocessor_config.json Qwen2VLImageProcessor
// reads; pointers tell a missing field (the class default) from a zero.
type processorFields struct {
	Type                           string
	Resize, Rescale, Normalize     *bool
	Factor                         *float64
	Resample, Patch, Merge         *int
	Temporal, MinPixels, MaxPixels *int
	Size                           map[string]float64
}

func readProcessorFields(pc *hf.PreprocessorConfig) processorFields {
	var j processorFields
	pc.Decode("image_processor_type", &j.Type)
	pc.Decode("do_resize", &j.Resize)
	pc.Decode("do_rescale", &j.Rescale)
	pc.Decode("do_normalize", &j.Normalize)
	pc.Decode("rescale_factor", &j.Factor)
	pc.Decode("resample", &j.Resample)
	pc.Decode("patch_size", &j.Patch)
	pc.Decode("merge_size", &j.Merge)
	pc.Decode("temporal_patch_size", &j.Temporal)
	pc.Decode("min_pixels", &j.MinPixels)
	pc.Decode("max_pixels", &j.MaxPixels)
	pc.Decode("size", &j.Size)
	return j
}

func parseImageProcessor(pc *hf.PreprocessorConfig) (*ImageProcessor, error) {
	j := readProcessorFields(pc)
	if err := pc.Err(); err != nil {
		return nil, err
	}
	if hf.ProcessorClass(j.Type) != "Qwen2VLImageProcessor" {
		return nil, fmt.Errorf("image_processor_type %q is not Qwen2VLImageProcessor", j.Type)
	}
	p := &ImageProcessor{MinPixels: 56 * 56, MaxPixels: 28 * 28 * 1280, Patch: 14, Merge: 2, TemporalPatch: 2,
		Resize: true, Resample: 3, Rescale: true, RescaleFactor: 1.0 / 255, Normalize: true}
	hf.Override(&p.Patch, j.Patch)
	hf.Override(&p.Merge, j.Merge)
	hf.Override(&p.TemporalPatch, j.Temporal)
	hf.Override(&p.Resample, j.Resample)
	hf.Override(&p.Resize, j.Resize)
	hf.Override(&p.Rescale, j.Rescale)
	hf.Override(&p.Normalize, j.Normalize)
	hf.Override(&p.RescaleFactor, j.Factor)
	// size {shortest_edge: min_pixels, longest_edge: max_pixels} (transformers 5), or the
	// top-level min_pixels and max_pixels of older configs (these win, as in transformers).
	if v, ok := j.Size["shortest_edge"]; ok {
		p.MinPixels = int(v)
	}
	if v, ok := j.Size["longest_edge"]; ok {
		p.MaxPixels = int(v)
	}
	hf.Override(&p.MinPixels, j.MinPixels)
	hf.Override(&p.MaxPixels, j.MaxPixels)
	p.Mean = pc.Channels("image_mean", []float32{0.48145466, 0.4578275, 0.40821073})
	p.Std = pc.Channels("image_std", []float32{0.26862954, 0.26130258, 0.27577711})
	if err := pc.Err(); err != nil {
		return nil, err
	}
	switch {
	case p.Patch < 1 || p.Merge < 1 || p.TemporalPatch < 1:
		return nil, fmt.Errorf("patch_size, merge_size and temporal_patch_size must be positive")
	case p.MinPixels < 1 || p.MaxPixels < p.MinPixels:
		return nil, fmt.Errorf("min_pixels %d and max_pixels %d: want 0 < min <= max", p.MinPixels, p.MaxPixels)
	case p.Resize && p.Resample != 1 && p.Resample != 2 && p.Resample != 3:
		return nil, fmt.Errorf("resample %d is not reproduced here (1 Lanczos, 2 bilinear, 3 bicubic)", p.Resample)
	}
	for _, s := range p.Std {
		if s == 0 {
			return nil, fmt.Errorf("image_std holds 0")
		}
	}
	return p, nil
}

// DefaultTokens is the number of image tokens (after the merge) of DefaultSide: 256, the lower end
// of the token budget Qwen2.5-VL's model card suggests (min_pixels = 256*28*28).
const DefaultTokens = 256

// DefaultSide is the side of the square images a policy is given when the run names none: the
// processor keeps an image's own size (within [MinPixels, MaxPixels]) and has none of its own, so
// this is the side of DefaultTokens image tokens, 16 x Patch x Merge pixels (448 for Qwen2.5-VL's
// patch 14 and merge 2), as SmartResize brings a square of that side within the pixel bounds of
// preprocessor_config.json (a square stays a square).
func (p *ImageProcessor) DefaultSide() int {
	side := int(math.Sqrt(DefaultTokens)) * p.Patch * p.Merge
	if !p.Resize {
		return side
	}
	if h, _, err := p.SmartResize(side, side); err == nil {
		return h
	}
	return side
}

// Tokens is the number of image tokens (after the merge) of a w x h image.
func (p *ImageProcessor) Tokens(w, h int) (int, error) {
	if p.Resize {
		var err error
		if h, w, err = p.SmartResize(h, w); err != nil {
			return 0, err
		}
	}
	return (h / p.Patch) * (w / p.Patch) / (p.Merge * p.Merge), nil
}

// SmartResize is transformers' smart_resize: the height and width the processor resizes an
// h x w image to.
func (p *ImageProcessor) SmartResize(h, w int) (nh, nw int, err error) {
	f := p.Patch * p.Merge
	if h < 1 || w < 1 {
		return 0, 0, fmt.Errorf("hf: an image of %dx%d", w, h)
	}
	if float64(max(h, w))/float64(min(h, w)) > 200 {
		return 0, 0, fmt.Errorf("hf: an image of %dx%d: the aspect ratio must be below 200", w, h)
	}
	ff := float64(f)
	nh = int(math.RoundToEven(float64(h)/ff)) * f // Python's round: halves to even
	nw = int(math.RoundToEven(float64(w)/ff)) * f
	switch {
	case nh*nw > p.MaxPixels:
		beta := math.Sqrt(float64(h*w) / float64(p.MaxPixels))
		nh = max(f, int(math.Floor(float64(h)/beta/ff))*f)
		nw = max(f, int(math.Floor(float64(w)/beta/ff))*f)
	case nh*nw < p.MinPixels:
		beta := math.Sqrt(float64(p.MinPixels) / float64(h*w))
		nh = int(math.Ceil(float64(h)*beta/ff)) * f
		nw = int(math.Ceil(float64(w)*beta/ff)) * f
	}
	return nh, nw, nil
}

// Preprocess returns the pixel rows of the w x h image of 8-bit RGB pixels rgb (row-major, three
// bytes a pixel), as pixel_values [t*h*w, 3*T*P*P], and its grid (t, h, w) in patches
// (image_grid_thw): the image resized, rescaled and normalized, repeated over the temporal
// patch, cut into P x P patches that come merge x merge blocks at a time, the blocks row-major;
// a row holds a patch's values channel, then frame, then row, then column major.
func (p *ImageProcessor) Preprocess(w, h int, rgb []uint8) (pixels []float32, grid [3]int, err error) {
	if w < 1 || h < 1 || len(rgb) != 3*w*h {
		return nil, grid, fmt.Errorf("hf: an image of %dx%d needs %d bytes of RGB, not %d", w, h, 3*w*h, len(rgb))
	}
	img := rgb
	if p.Resize {
		nh, nw, err := p.SmartResize(h, w)
		if err != nil {
			return nil, grid, err
		}
		img = hf.PILResize(img, w, h, nw, nh, p.Resample)
		w, h = nw, nh
	}
	P, ms, T := p.Patch, p.Merge, p.TemporalPatch
	if h%(P*ms) != 0 || w%(P*ms) != 0 {
		return nil, grid, fmt.Errorf("hf: an image of %dx%d is not whole blocks of %d pixels (resize it)", w, h, P*ms)
	}
	// The normalized image, channel-major [3, h, w], as numpy computes it: uint8 -> float64,
	// times the factor, then float32; (x - mean) / std in float32.
	plane := make([]float32, 3*w*h)
	for c := range 3 {
		for i := range w * h {
			u := img[3*i+c]
			v := float32(u)
			if p.Rescale {
				v = float32(float64(u) * p.RescaleFactor)
			}
			if p.Normalize {
				v = (v - p.Mean[c]) / p.Std[c]
			}
			plane[c*w*h+i] = v
		}
	}
	gh, gw := h/P, w/P
	grid = [3]int{1, gh, gw} // a still image is one temporal patch (its frame repeated T times)
	row := 3 * T * P * P
	pixels = make([]float32, 0, gh*gw*row)
	for bh := range gh / ms {
		for bw := range gw / ms {
			for mh := range ms {
				for mw := range ms {
					y0, x0 := (bh*ms+mh)*P, (bw*ms+mw)*P
					for c := range 3 {
						for range T {
							for py := range P {
								off := c*w*h + (y0+py)*w + x0
								pixels = append(pixels, plane[off:off+P]...)
							}
						}
					}
				}
			}
		}
	}
	return pixels, grid, nil
}

// ExpandPrompt replaces the i-th <|image_pad|> of prompt by t*h*w/merge^2 of them for the i-th
// grid, as Qwen2_5_VLProcessor does before tokenizing.
func (p *ImageProcessor) ExpandPrompt(prompt string, grids [][3]int) (string, error) {
	parts := strings.Split(prompt, imagePad)
	if len(parts)-1 != len(grids) {
		return "", fmt.Errorf("hf: the prompt holds %d %s for %d images", len(parts)-1, imagePad, len(grids))
	}
	var b strings.Builder
	for i, part := range parts {
		b.WriteString(part)
		if i < len(grids) {
			g := grids[i]
			b.WriteString(strings.Repeat(imagePad, g[0]*g[1]*g[2]/(p.Merge*p.Merge)))
		}
	}
	return b.String(), nil
}
