package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// ViTImageProcessor is the preprocessing a vision encoder's preprocessor_config.json asks for, as
// transformers' PIL image processors (CLIPImageProcessor, BitImageProcessor for DINOv2,
// SiglipImageProcessor) run it on an 8-bit RGB image: resize (the shorter side to Shortest
// keeping the aspect ratio, or to exactly Height x Width), centre crop, rescale, normalize.
//
// The resize reproduces Pillow's Image.resize (the separable convolution of its Resample.c:
// the filter widened by the scale when downscaling, i.e. antialiased, fixed-point coefficients
// and an 8-bit image between the horizontal and the vertical pass), so on 8-bit input the
// result is Pillow's to the bit. transformers' torchvision ("fast") processors resample
// differently; their configs give the same fields and get this PIL preprocessing.
type ViTImageProcessor struct {
	Type string // image_processor_type, without a Fast or Pil suffix

	Resize        bool
	Shortest      int // size.shortest_edge; 0 when the size is Height x Width
	Height, Width int // size.height, size.width
	Resample      int // PIL filter: 1 Lanczos, 2 bilinear, 3 bicubic

	Crop         bool
	CropH, CropW int

	Rescale       bool
	RescaleFactor float64

	Normalize bool
	Mean, Std []float32 // one value per channel (3)
}

// The processor classes read here and the fields their classes default to when
// preprocessor_config.json leaves them out.
var vitProcessorDefaults = map[string]ViTImageProcessor{
	"CLIPImageProcessor": {Resize: true, Shortest: 224, Resample: 3, Crop: true, CropH: 224, CropW: 224,
		Rescale: true, RescaleFactor: 1.0 / 255, Normalize: true,
		Mean: []float32{0.48145466, 0.4578275, 0.40821073}, Std: []float32{0.26862954, 0.26130258, 0.27577711}},
	"BitImageProcessor": {Resize: true, Shortest: 224, Resample: 3, Crop: true, CropH: 224, CropW: 224,
		Rescale: true, RescaleFactor: 1.0 / 255, Normalize: true,
		Mean: []float32{0.48145466, 0.4578275, 0.40821073}, Std: []float32{0.26862954, 0.26130258, 0.27577711}},
	"SiglipImageProcessor": {Resize: true, Height: 224, Width: 224, Resample: 3,
		Rescale: true, RescaleFactor: 1.0 / 255, Normalize: true,
		Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}},
}

// LoadViTImageProcessor reads dir/preprocessor_config.json. An unknown processor class, a size
// it does not describe, or a resampling filter not reproduced here is an error naming it.
func LoadViTImageProcessor(dir string) (*ViTImageProcessor, error) {
	path := filepath.Join(dir, "preprocessor_config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("hf: %s is missing: a vision model folder needs it to preprocess images", path)
		}
		return nil, fmt.Errorf("hf: %w", err)
	}
	p, err := parseViTImageProcessor(js)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", path, err)
	}
	return p, nil
}

func parseViTImageProcessor(js []byte) (*ViTImageProcessor, error) {
	var c struct {
		Type          string          `json:"image_processor_type"`
		Extractor     string          `json:"feature_extractor_type"`
		DoResize      *bool           `json:"do_resize"`
		Size          json.RawMessage `json:"size"`
		Resample      *int            `json:"resample"`
		DoCrop        *bool           `json:"do_center_crop"`
		CropSize      json.RawMessage `json:"crop_size"`
		DoRescale     *bool           `json:"do_rescale"`
		RescaleFactor *float64        `json:"rescale_factor"`
		DoNormalize   *bool           `json:"do_normalize"`
		Mean          json.RawMessage `json:"image_mean"`
		Std           json.RawMessage `json:"image_std"`
		DoPad         *bool           `json:"do_pad"`
	}
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, err
	}
	typ := c.Type
	if typ == "" && c.Extractor != "" { // older folders: CLIPFeatureExtractor
		typ = strings.TrimSuffix(c.Extractor, "FeatureExtractor") + "ImageProcessor"
	}
	typ = strings.TrimSuffix(strings.TrimSuffix(typ, "Fast"), "Pil")
	def, ok := vitProcessorDefaults[typ]
	if !ok {
		if typ == "" {
			return nil, fmt.Errorf("no image_processor_type")
		}
		return nil, fmt.Errorf("image_processor_type %q is not read here (CLIPImageProcessor, BitImageProcessor, SiglipImageProcessor)", typ)
	}
	p := def
	p.Type = typ
	p.Mean = append([]float32(nil), def.Mean...)
	p.Std = append([]float32(nil), def.Std...)
	override(&p.Resize, c.DoResize)
	override(&p.Crop, c.DoCrop)
	override(&p.Rescale, c.DoRescale)
	override(&p.Normalize, c.DoNormalize)
	override(&p.Resample, c.Resample)
	override(&p.RescaleFactor, c.RescaleFactor)
	if c.DoPad != nil && *c.DoPad {
		return nil, fmt.Errorf("do_pad is not implemented")
	}
	if len(c.Size) > 0 && string(c.Size) != "null" {
		// A plain number is the shorter side for CLIP and Bit (transformers' default_to_square
		// False) and a square for SigLIP.
		var n int
		var d map[string]int
		switch {
		case json.Unmarshal(c.Size, &n) == nil:
			if typ == "SiglipImageProcessor" {
				p.Shortest, p.Height, p.Width = 0, n, n
			} else {
				p.Shortest, p.Height, p.Width = n, 0, 0
			}
		case json.Unmarshal(c.Size, &d) == nil:
			_, hasLong := d["longest_edge"]
			_, hasMax := d["max_height"]
			switch {
			case hasLong || hasMax:
				return nil, fmt.Errorf("size %s: longest_edge and max_height/max_width are not implemented", c.Size)
			case d["shortest_edge"] > 0:
				p.Shortest, p.Height, p.Width = d["shortest_edge"], 0, 0
			case d["height"] > 0 && d["width"] > 0:
				p.Shortest, p.Height, p.Width = 0, d["height"], d["width"]
			default:
				return nil, fmt.Errorf("size %s has neither shortest_edge nor height and width", c.Size)
			}
		default:
			return nil, fmt.Errorf("size %s is neither a number nor a dictionary", c.Size)
		}
	}
	if len(c.CropSize) > 0 && string(c.CropSize) != "null" {
		var n int
		var d map[string]int
		switch {
		case json.Unmarshal(c.CropSize, &n) == nil:
			p.CropH, p.CropW = n, n
		case json.Unmarshal(c.CropSize, &d) == nil:
			p.CropH, p.CropW = d["height"], d["width"]
		default:
			return nil, fmt.Errorf("crop_size %s is neither a number nor a dictionary", c.CropSize)
		}
	}
	var err error
	if p.Mean, err = vitChannelValues("image_mean", c.Mean, p.Mean); err != nil {
		return nil, err
	}
	if p.Std, err = vitChannelValues("image_std", c.Std, p.Std); err != nil {
		return nil, err
	}
	switch {
	case p.Resize && p.Resample != 1 && p.Resample != 2 && p.Resample != 3:
		return nil, fmt.Errorf("resample %d: only PIL's LANCZOS (1), BILINEAR (2) and BICUBIC (3) are implemented", p.Resample)
	case p.Crop && (p.CropH < 1 || p.CropW < 1):
		return nil, fmt.Errorf("do_center_crop needs a positive crop_size height and width")
	case p.Rescale && !(p.RescaleFactor > 0):
		return nil, fmt.Errorf("rescale_factor must be positive")
	}
	if p.Normalize {
		for _, s := range p.Std {
			if s == 0 {
				return nil, fmt.Errorf("image_std has a zero")
			}
		}
	}
	return &p, nil
}

// vitChannelValues reads image_mean or image_std: one number for every channel, or three.
func vitChannelValues(name string, js json.RawMessage, def []float32) ([]float32, error) {
	if len(js) == 0 || string(js) == "null" {
		return def, nil
	}
	var one float64
	if json.Unmarshal(js, &one) == nil {
		v := float32(one)
		return []float32{v, v, v}, nil
	}
	var many []float64
	if err := json.Unmarshal(js, &many); err != nil || len(many) != 3 {
		return nil, fmt.Errorf("%s %s: want a number or three", name, js)
	}
	return []float32{float32(many[0]), float32(many[1]), float32(many[2])}, nil
}

// OutSize returns the height and width of every preprocessed image, or 0, 0 when it depends on
// the input's shape (a shortest-edge resize without a crop).
func (p *ViTImageProcessor) OutSize() (h, w int) {
	switch {
	case p.Crop:
		return p.CropH, p.CropW
	case p.Resize && p.Shortest == 0:
		return p.Height, p.Width
	}
	return 0, 0
}

// FitSide is the side of the square image that images.Fit should make of a file before
// Preprocess, so that the square holds what the processor keeps of the file: the shortest edge
// for a shortest-edge resize (its crop is then taken from that square), else the resize's
// height (a fixed-size resize of a non-square file distorts it; a square cannot).
func (p *ViTImageProcessor) FitSide() int {
	switch {
	case p.Resize && p.Shortest > 0:
		return p.Shortest
	case p.Resize:
		return p.Height
	case p.Crop:
		return p.CropH
	}
	return 0
}

// Preprocess returns the model input of the w x h image of 8-bit RGB pixels rgb (row-major,
// three bytes a pixel): float32 [3, oh, ow] (channel-major), as transformers' PIL image
// processor makes it.
func (p *ViTImageProcessor) Preprocess(w, h int, rgb []uint8) (out []float32, oh, ow int, err error) {
	if w < 1 || h < 1 || len(rgb) != 3*w*h {
		return nil, 0, 0, fmt.Errorf("hf: an image of %dx%d needs %d bytes of RGB, not %d", w, h, 3*w*h, len(rgb))
	}
	img := rgb
	if p.Resize {
		nh, nw := p.Height, p.Width
		if p.Shortest > 0 {
			nh, nw = vitShortestEdge(h, w, p.Shortest)
		}
		if nh < 1 || nw < 1 {
			return nil, 0, 0, fmt.Errorf("hf: resizing %dx%d gives an empty image", w, h)
		}
		img = vitPILResize(img, w, h, nw, nh, p.Resample)
		w, h = nw, nh
	}
	if p.Crop {
		img = vitCenterCrop(img, w, h, p.CropW, p.CropH)
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

// vitShortestEdge is transformers' get_resize_output_image_size(default_to_square=False): the
// shorter side becomes size, the longer one int(size * long / short).
func vitShortestEdge(h, w, size int) (nh, nw int) {
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

// vitCenterCrop is transformers' center_crop on an HWC 8-bit image: the centred ch x cw window,
// top-left rounded down, and zero padding (centred, rounded up at the top-left) where the image
// is smaller than the window.
func vitCenterCrop(img []uint8, w, h, cw, ch int) []uint8 {
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

// vitPILFilter is one of Pillow's resampling filters: its kernel and its support (half-width) at
// scale 1.
type vitPILFilter struct {
	support float64
	kernel  func(float64) float64
}

func vitPILFilterOf(resample int) vitPILFilter {
	switch resample {
	case 1:
		return vitPILFilter{3, vitPILLanczos}
	case 2:
		return vitPILFilter{1, vitPILBilinear}
	}
	return vitPILFilter{2, vitPILBicubic}
}

// vitPILBicubic is Pillow's cubic convolution kernel with a = -0.5. The explicit float64
// conversions keep Go from fusing multiply-adds that Pillow's C does not fuse.
func vitPILBicubic(x float64) float64 {
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

func vitPILBilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func vitPILSinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func vitPILLanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return vitPILSinc(x) * vitPILSinc(x/3)
	}
	return 0
}

// vitPILPrecision is Pillow's fixed-point precision of 8-bit resampling coefficients.
const vitPILPrecision = 32 - 8 - 2

// vitPILCoeffs computes, for each of out output pixels along an axis of in input pixels, the first
// input pixel it reads, how many, and the fixed-point weights (ksize per output pixel), as
// Pillow's precompute_coeffs and normalize_coeffs_8bpc do.
func vitPILCoeffs(in, out int, f vitPILFilter) (bounds []int, kk []int32, ksize int) {
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
			v := float64(k[x] * (1 << vitPILPrecision)) // rounded before the ±0.5, as in C
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

// vitClip8 turns a fixed-point sum into a byte, as Pillow's vitClip8.
func vitClip8(v int64) uint8 {
	s := v >> vitPILPrecision
	switch {
	case s < 0:
		return 0
	case s > 255:
		return 255
	}
	return uint8(s)
}

// vitPILResize is Pillow's Image.resize((nw, nh), resample) of an 8-bit RGB image (HWC bytes):
// the horizontal pass over the rows the vertical pass reads, rounded to bytes, then the vertical
// pass. An axis whose size does not change is not resampled.
func vitPILResize(img []uint8, w, h, nw, nh, resample int) []uint8 {
	if w == nw && h == nh {
		return append([]uint8(nil), img...)
	}
	f := vitPILFilterOf(resample)
	src, sw := img, w
	var vb []int
	var vk []int32
	var vks int
	if nh != h {
		vb, vk, vks = vitPILCoeffs(h, nh, f)
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
		hb, hk, hks := vitPILCoeffs(w, nw, f)
		tmp := make([]uint8, 3*nw*(last-first))
		for y := first; y < last; y++ {
			row := img[3*y*w : 3*(y+1)*w]
			dst := tmp[3*(y-first)*nw : 3*(y-first+1)*nw]
			for xx := range nw {
				xmin, n := hb[2*xx], hb[2*xx+1]
				k := hk[xx*hks : xx*hks+n]
				s0, s1, s2 := int64(1)<<(vitPILPrecision-1), int64(1)<<(vitPILPrecision-1), int64(1)<<(vitPILPrecision-1)
				for x, c := range k {
					p := row[3*(xmin+x):]
					s0 += int64(p[0]) * int64(c)
					s1 += int64(p[1]) * int64(c)
					s2 += int64(p[2]) * int64(c)
				}
				dst[3*xx], dst[3*xx+1], dst[3*xx+2] = vitClip8(s0), vitClip8(s1), vitClip8(s2)
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
			s0, s1, s2 := int64(1)<<(vitPILPrecision-1), int64(1)<<(vitPILPrecision-1), int64(1)<<(vitPILPrecision-1)
			for y, c := range k {
				p := src[3*((ymin+y)*sw+xx):]
				s0 += int64(p[0]) * int64(c)
				s1 += int64(p[1]) * int64(c)
				s2 += int64(p[2]) * int64(c)
			}
			dst[3*xx], dst[3*xx+1], dst[3*xx+2] = vitClip8(s0), vitClip8(s1), vitClip8(s2)
		}
	}
	return out
}
