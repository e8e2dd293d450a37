package vit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/unigrpo/unigrpo/models/hf"
)

// ImageProcessor is the preprocessing a vision encoder's preprocessor_config.json asks for, as
// transformers' PIL image processors (CLIPImageProcessor, BitImageProcessor for DINOv2,
// SiglipImageProcessor) run it on an 8-bit RGB image: resize (the shorter side to Shortest
// keeping the aspect ratio, or to exactly Height x Width), centre crop, rescale, normalize.
//
// The resize reproduces Pillow's Image.resize (the separable convolution of its Resample.c:
// the filter widened by the scale when downscaling, i.e. antialiased, fixed-point coefficients
// and an 8-bit image between the horizontal and the vertical pass), so on 8-bit input the
// result is Pillow's to the bit. transformers' torchvision ("fast") processors resample
// differently; their configs give the same fields and get this PIL preprocessing.
type ImageProcessor struct {
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

// processorDefaults returns the processor class typ's fields, as the class defaults them
// when preprocessor_config.json leaves them out; false for a class not read here.
func processorDefaults(typ string) (ImageProcessor, bool) {
	clip := func() ImageProcessor {
		return ImageProcessor{Resize: true, Shortest: 224, Resample: 3, Crop: true, CropH: 224, CropW: 224,
			Rescale: true, RescaleFactor: 1.0 / 255, Normalize: true,
			Mean: []float32{0.48145466, 0.4578275, 0.40821073}, Std: []float32{0.26862954, 0.26130258, 0.27577711}}
	}
	switch typ {
	case "CLIPImageProcessor", "BitImageProcessor":
		return clip(), true
	case "SiglipImageProcessor":
		return ImageProcessor{Resize: true, Height: 224, Width: 224, Resample: 3,
			Rescale: true, RescaleFactor: 1.0 / 255, Normalize: true,
			Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}, true
	}
	return ImageProcessor{}, false
}

// LoadImageProcessor reads dir/preprocessor_config.json. An unknown processor class, a size
// it does not describe, or a resampling filter not reproduced here is an error naming it.
func LoadImageProcessor(dir string) (*ImageProcessor, error) {
	pc, err := hf.ReadPreprocessorConfig(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("hf: %s is missing: a vision model folder needs it to preprocess images", filepath.Join(dir, hf.PreprocessorFile))
		}
		return nil, err
	}
	p, err := parseImageProcessor(pc)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", pc.Path(), err)
	}
	return p, nil
}

// processorFields are the fields of preprocessor_config.json the vision processors read;
// pointers tell a missing field (the class default) from a zero.
type processorFields struct {
	Type, Extractor                                 string
	DoResize, DoCrop, DoRescale, DoNormalize, DoPad *bool
	Size, CropSize                                  json.RawMessage
	Resample                                        *int
	RescaleFactor                                   *float64
}

func readProcessorFields(pc *hf.PreprocessorConfig) processorFields {
	var c processorFields
	pc.Decode("image_processor_type", &c.Type)
	pc.Decode("feature_extractor_type", &c.Extractor)
	pc.Decode("do_resize", &c.DoResize)
	pc.Decode("size", &c.Size)
	pc.Decode("resample", &c.Resample)
	pc.Decode("do_center_crop", &c.DoCrop)
	pc.Decode("crop_size", &c.CropSize)
	pc.Decode("do_rescale", &c.DoRescale)
	pc.Decode("rescale_factor", &c.RescaleFactor)
	pc.Decode("do_normalize", &c.DoNormalize)
	pc.Decode("do_pad", &c.DoPad)
	return c
}

func parseImageProcessor(pc *hf.PreprocessorConfig) (*ImageProcessor, error) {
	c := readProcessorFields(pc)
	if err := pc.Err(); err != nil {
		return nil, err
	}
	typ := c.Type
	if typ == "" && c.Extractor != "" { // older folders: CLIPFeatureExtractor
		typ = strings.TrimSuffix(c.Extractor, "FeatureExtractor") + "ImageProcessor"
	}
	typ = hf.ProcessorClass(typ)
	p, ok := processorDefaults(typ)
	if !ok {
		if typ == "" {
			return nil, fmt.Errorf("no image_processor_type")
		}
		return nil, fmt.Errorf("image_processor_type %q is not read here (CLIPImageProcessor, BitImageProcessor, SiglipImageProcessor)", typ)
	}
	p.Type = typ
	hf.Override(&p.Resize, c.DoResize)
	hf.Override(&p.Crop, c.DoCrop)
	hf.Override(&p.Rescale, c.DoRescale)
	hf.Override(&p.Normalize, c.DoNormalize)
	hf.Override(&p.Resample, c.Resample)
	hf.Override(&p.RescaleFactor, c.RescaleFactor)
	if c.DoPad != nil && *c.DoPad {
		return nil, fmt.Errorf("do_pad is not implemented")
	}
	if err := p.readSizes(c.Size, c.CropSize); err != nil {
		return nil, err
	}
	p.Mean = pc.Channels("image_mean", p.Mean)
	p.Std = pc.Channels("image_std", p.Std)
	if err := pc.Err(); err != nil {
		return nil, err
	}
	return &p, p.check()
}

// readSizes reads size and crop_size: a number, or a dictionary of transformers' size keys.
func (p *ImageProcessor) readSizes(size, crop json.RawMessage) error {
	if len(size) > 0 && string(size) != "null" {
		// A plain number is the shorter side for CLIP and Bit (transformers' default_to_square
		// False) and a square for SigLIP.
		var n int
		var d map[string]int
		switch {
		case json.Unmarshal(size, &n) == nil:
			if p.Type == "SiglipImageProcessor" {
				p.Shortest, p.Height, p.Width = 0, n, n
			} else {
				p.Shortest, p.Height, p.Width = n, 0, 0
			}
		case json.Unmarshal(size, &d) == nil:
			_, hasLong := d["longest_edge"]
			_, hasMax := d["max_height"]
			switch {
			case hasLong || hasMax:
				return fmt.Errorf("size %s: longest_edge and max_height/max_width are not implemented", size)
			case d["shortest_edge"] > 0:
				p.Shortest, p.Height, p.Width = d["shortest_edge"], 0, 0
			case d["height"] > 0 && d["width"] > 0:
				p.Shortest, p.Height, p.Width = 0, d["height"], d["width"]
			default:
				return fmt.Errorf("size %s has neither shortest_edge nor height and width", size)
			}
		default:
			return fmt.Errorf("size %s is neither a number nor a dictionary", size)
		}
	}
	if len(crop) > 0 && string(crop) != "null" {
		var n int
		var d map[string]int
		switch {
		case json.Unmarshal(crop, &n) == nil:
			p.CropH, p.CropW = n, n
		case json.Unmarshal(crop, &d) == nil:
			p.CropH, p.CropW = d["height"], d["width"]
		default:
			return fmt.Errorf("crop_size %s is neither a number nor a dictionary", crop)
		}
	}
	return nil
}

// check names the first setting not reproduced here.
func (p *ImageProcessor) check() error {
	switch {
	case p.Resize && p.Resample != 1 && p.Resample != 2 && p.Resample != 3:
		return fmt.Errorf("resample %d: only PIL's LANCZOS (1), BILINEAR (2) and BICUBIC (3) are implemented", p.Resample)
	case p.Crop && (p.CropH < 1 || p.CropW < 1):
		return fmt.Errorf("do_center_crop needs a positive crop_size height and width")
	case p.Rescale && !(p.RescaleFactor > 0):
		return fmt.Errorf("rescale_factor must be positive")
	}
	if p.Normalize {
		for _, s := range p.Std {
			if s == 0 {
				return fmt.Errorf("image_std has a zero")
			}
		}
	}
	return nil
}

// OutSize returns the height and width of every preprocessed image, or 0, 0 when it depends on
// the input's shape (a shortest-edge resize without a crop).
func (p *ImageProcessor) OutSize() (h, w int) {
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
func (p *ImageProcessor) FitSide() int {
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
