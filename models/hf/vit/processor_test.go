package vit

import (
	"bytes"
	"image"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/draw"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// The preprocessor gives transformers' pixel_values for the fixture's image (PIL's bicubic
// resize reproduced to the bit, so the difference is float32 rounding at most); Catmull-Rom
// (golang.org/x/image/draw) in its place is measured for comparison.
func TestPreprocessMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := hftest.Open(t, family)
			p, err := LoadImageProcessor(f.Dir)
			if err != nil {
				t.Fatal(err)
			}
			w, h, rgb := vitFixtureRGB(t, f)
			got, oh, ow, err := p.Preprocess(w, h, rgb)
			if err != nil {
				t.Fatal(err)
			}
			a := raw.New(-1)
			defer a.Free()
			want, shape := f.Values(t, a, "pixel_values")
			if int64(oh) != shape[2] || int64(ow) != shape[3] {
				t.Fatalf("preprocessed to %dx%d, transformers %dx%d", ow, oh, shape[3], shape[2])
			}
			worst, mean := vitMaxDiff(t, "pixel_values", got, want)
			t.Logf("%s (%dx%d -> %dx%d): pixel_values max |Go - transformers| %.3g, mean %.3g", p.Type, w, h, ow, oh, worst, mean)
			if worst > 1e-6 {
				t.Errorf("pixel_values: max |Go - transformers| = %.3g, want PIL's resize to the bit", worst)
			}

			// The same pipeline with Catmull-Rom instead of PIL's filter.
			cr := *p
			cr.Resize = false
			nh, nw := p.Height, p.Width
			if p.Shortest > 0 {
				nh, nw = shortestEdge(h, w, p.Shortest)
			}
			alt, _, _, err := cr.Preprocess(nw, nh, vitCatmullRom(w, h, rgb, nw, nh))
			if err != nil {
				t.Fatal(err)
			}
			worst, mean = vitMaxDiff(t, "pixel_values", alt, want)
			scale := 255 * float64(p.Std[0]) // back to 8-bit levels (channel 0's std)
			t.Logf("Catmull-Rom instead: max |diff| %.3g (%.1f levels of 255), mean %.3g (%.2f levels)", worst, worst*scale, mean, mean*scale)
		})
	}
}

// vitCatmullRom resizes an 8-bit RGB image with golang.org/x/image/draw.CatmullRom, the filter of
// images.Fit.
func vitCatmullRom(w, h int, rgb []uint8, nw, nh int) []uint8 {
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		copy(src.Pix[4*i:4*i+3], rgb[3*i:3*i+3])
		src.Pix[4*i+3] = 255
	}
	dst := image.NewNRGBA(image.Rect(0, 0, nw, nh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	out := make([]uint8, 3*nw*nh)
	for i := range nw * nh {
		copy(out[3*i:3*i+3], dst.Pix[4*i:4*i+3])
	}
	return out
}

// preprocessor_config.json: legacy integer sizes, defaults, and errors naming the field.
func TestPreprocessConfig(t *testing.T) {
	p, err := parseImageProcessor(hf.ParsePreprocessorConfig([]byte(`{"feature_extractor_type": "CLIPFeatureExtractor", "size": 224, "crop_size": 224, "resample": 3}`)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != "CLIPImageProcessor" || p.Shortest != 224 || !p.Crop || p.CropH != 224 || p.FitSide() != 224 || p.Mean[0] != 0.48145466 {
		t.Errorf("legacy CLIP config read as %+v", p)
	}
	p, err = parseImageProcessor(hf.ParsePreprocessorConfig([]byte(`{"image_processor_type": "SiglipImageProcessorFast", "size": 384, "image_mean": 0.5}`)))
	if err != nil {
		t.Fatal(err)
	}
	if h, w := p.OutSize(); h != 384 || w != 384 || p.Crop || p.Std[2] != 0.5 {
		t.Errorf("SigLIP config read as %+v", p)
	}
	for js, want := range map[string]string{
		`{"image_processor_type": "ImageProcessor"}`:                                   `"ImageProcessor"`,
		`{"image_processor_type": "CLIPImageProcessor", "resample": 0}`:                "resample 0",
		`{"image_processor_type": "BitImageProcessor", "size": {"longest_edge": 5}}`:   "longest_edge",
		`{"image_processor_type": "CLIPImageProcessor", "image_std": [1, 2]}`:          "image_std",
		`{"image_processor_type": "CLIPImageProcessor", "crop_size": {"height": 0}}`:   "crop_size",
		`{"image_processor_type": "SiglipImageProcessor", "do_pad": true}`:             "do_pad",
		`{"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 0}}`: "shortest_edge",
		`{"image_processor_type": "CLIPImageProcessor", "rescale_factor": 0}`:          "rescale_factor",
		`{}`: "no image_processor_type",
	} {
		if _, err := parseImageProcessor(hf.ParsePreprocessorConfig([]byte(js))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %s", js, err, want)
		}
	}
	// Centre crop pads an image smaller than the window, centred (transformers' center_crop).
	img := []uint8{1, 1, 1, 2, 2, 2} // 2x1
	got := centerCrop(img, 2, 1, 4, 3)
	want := make([]uint8, 3*4*3)
	copy(want[3*(1*4+1):], img)
	if !bytes.Equal(got, want) {
		t.Errorf("centerCrop padded 2x1 to 4x3 as %v, want %v", got, want)
	}
}
