package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"golang.org/x/image/draw"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world/embed"
)

// The vision families and their fixtures (testdata/transformers, oracle transformers 5.17).
var vitFamilies = []string{"clip_vision", "dinov2", "siglip_vision"}

var (
	_ eval.ImageEmbedder = (*ViT)(nil)
	_ embed.Embedder     = PlanarViT{}
)

// vitMaxDiff returns max |got - want| and mean |got - want|.
func vitMaxDiff(t *testing.T, name string, got, want []float32) (worst, mean float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, transformers has %d", name, len(got), len(want))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d != d {
			return math.Inf(1), math.Inf(1)
		}
		worst = math.Max(worst, d)
		mean += d
	}
	return worst, mean / float64(len(want))
}

// vitFixtureRGB reads the fixture's U8 image_rgb [H, W, 3] from expected.safetensors (Weights.Load
// reads only float tensors) and checks that image.png decodes to the same pixels.
func vitFixtureRGB(t *testing.T, f *fixture) (w, h int, rgb []uint8) {
	t.Helper()
	st, ok := f.tensors.tensors["image_rgb"]
	if !ok || st.dtype != "U8" || len(st.shape) != 3 || st.shape[2] != 3 {
		t.Fatalf("%s: expected.safetensors has no U8 image_rgb [H, W, 3]", f.dir)
	}
	h, w = int(st.shape[0]), int(st.shape[1])
	rgb = append([]uint8(nil), st.file.data[st.lo:st.hi]...)
	if len(rgb) != 3*w*h {
		t.Fatalf("image_rgb: %d bytes for %v", len(rgb), st.shape)
	}
	fp, err := os.Open(filepath.Join(f.dir, "image.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	img, err := png.Decode(fp)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("image.png is %dx%d, image_rgb %dx%d", b.Dx(), b.Dy(), w, h)
	}
	for y := range h {
		for x := range w {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			i := 3 * (y*w + x)
			if c.R != rgb[i] || c.G != rgb[i+1] || c.B != rgb[i+2] {
				t.Fatalf("image.png and image_rgb differ at (%d, %d)", x, y)
			}
		}
	}
	return w, h, rgb
}

// Each family's outputs on the fixture's own pixel_values match transformers' within 1e-4.
func TestViTMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := loadFixture(t, family)
			m, err := LoadViT(f.dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a := raw.New(-1)
			defer a.Free()
			px, shape := f.values(t, a, "pixel_values")
			out, err := m.Forward(px, int(shape[0]))
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got []float32) {
				want, _ := f.values(t, a, name)
				worst, _ := vitMaxDiff(t, name, got, want)
				t.Logf("%s: max |Go - transformers| %.3g", name, worst)
				if worst > 1e-4 {
					t.Errorf("%s: max |Go - transformers| = %.3g", name, worst)
				}
			}
			if len(out.Hidden) != m.Config().Layers+1 {
				t.Fatalf("%d hidden states for %d layers", len(out.Hidden), m.Config().Layers)
			}
			for i, h := range out.Hidden {
				check(fmt.Sprintf("hidden_states.%d", i), h)
			}
			check("last_hidden_state", out.Last)
			check("pooler_output", out.Pooled)
			if _, ok := f.tensors.Shape("image_embeds"); ok {
				if out.Embeds == nil {
					t.Fatal("no image_embeds")
				}
				check("image_embeds", out.Embeds)
			} else if out.Embeds != nil {
				t.Error("image_embeds from a model without a projection")
			}
		})
	}
}

// The preprocessor gives transformers' pixel_values for the fixture's image (PIL's bicubic
// resize reproduced to the bit, so the difference is float32 rounding at most); Catmull-Rom
// (golang.org/x/image/draw) in its place is measured for comparison.
func TestPreprocessMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := loadFixture(t, family)
			p, err := LoadViTImageProcessor(f.dir)
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
			want, shape := f.values(t, a, "pixel_values")
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
				nh, nw = vitShortestEdge(h, w, p.Shortest)
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

// Embedding the fixture's image gives transformers' feature, L2-normalised; a batch gives each
// image's own feature; the names and sizes are the families'.
func TestViTEmbed(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wantName := map[string]string{"clip_vision": "clip", "dinov2": "dinov2", "siglip_vision": "siglip"}
	wantSize := map[string]int{"clip_vision": 32, "dinov2": 36, "siglip_vision": 32}
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := loadFixture(t, family)
			m, err := LoadViT(f.dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Name() != wantName[family] || m.Size() != wantSize[family] {
				t.Errorf("Name %q Size %d, want %q %d", m.Name(), m.Size(), wantName[family], wantSize[family])
			}
			a := raw.New(-1)
			defer a.Free()
			feature := "pooler_output"
			if _, ok := f.tensors.Shape("image_embeds"); ok {
				feature = "image_embeds"
			}
			want, _ := f.values(t, a, feature)
			if len(want) != m.Dim() {
				t.Fatalf("Dim %d, %s has %d values", m.Dim(), feature, len(want))
			}
			ss := 0.0
			for _, x := range want {
				ss += float64(x) * float64(x)
			}
			for i := range want {
				want[i] = float32(float64(want[i]) / math.Sqrt(ss))
			}

			// The fixture's image as a float image: preprocessing rounds it back to the same bytes.
			w, h, rgb := vitFixtureRGB(t, f)
			im := images.FromRGB8(w, h, rgb)
			got := PlanarViT{m}.Embed(im)
			worst, _ := vitMaxDiff(t, feature, got, want)
			t.Logf("normalised %s of image_rgb: max |Go - transformers| %.3g", feature, worst)
			if worst > 1e-4 {
				t.Errorf("normalised %s: max |Go - transformers| = %.3g", feature, worst)
			}

			// The decoded image.png, through EmbedImages.
			fp, err := os.Open(filepath.Join(f.dir, "image.png"))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(fp)
			fp.Close()
			if err != nil {
				t.Fatal(err)
			}
			fromFile, err := m.EmbedImages([]image.Image{img})
			if err != nil {
				t.Fatal(err)
			}
			if worst, _ := vitMaxDiff(t, feature, fromFile[0], want); worst > 1e-4 {
				t.Errorf("EmbedImages(image.png): max |Go - transformers| = %.3g", worst)
			}

			// Squares: a batch of three equals three single embeddings.
			var sqs []images.Square
			for k := range 3 {
				side := m.Size() + 5*k
				sq := images.Square{Size: side, RGB: make([]uint8, 3*side*side)}
				for j := range sq.RGB {
					sq.RGB[j] = uint8((j*(7+k) + j/(3*side)*13) % 251)
				}
				sqs = append(sqs, sq)
			}
			batch, err := m.EmbedBatch(sqs)
			if err != nil {
				t.Fatal(err)
			}
			for k, sq := range sqs {
				one := m.Embed(sq)
				worst, _ := vitMaxDiff(t, "embed", batch[k], one)
				if worst > 1e-5 {
					t.Errorf("image %d: batch and single embeddings differ by %.3g", k, worst)
				}
				n := 0.0
				for _, x := range one {
					n += float64(x) * float64(x)
				}
				if math.Abs(n-1) > 1e-5 {
					t.Errorf("image %d: |feature|^2 = %v, want 1", k, n)
				}
			}
			if z := m.Embed(images.Square{Size: 4, RGB: make([]uint8, 5)}); len(z) != m.Dim() {
				t.Errorf("a malformed square embeds to %d values, want the zero vector of %d", len(z), m.Dim())
			}
		})
	}
}

// In bfloat16 every output stays within 3% of the tensor's largest value of transformers'
// float32 output, and a forward pass leaves nothing behind in the weights' arena.
func TestViTBFloat16(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := loadFixture(t, family)
			m, err := LoadViT(f.dir, gotch.CPU, raw.BFloat16)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a := raw.New(-1)
			defer a.Free()
			px, _ := f.values(t, a, "pixel_values")
			held := m.w.Len()
			out, err := m.Forward(px, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.w.Len() != held {
				t.Errorf("the weights' arena went from %d to %d handles in a forward pass", held, m.w.Len())
			}
			check := func(name string, got []float32) {
				want, _ := f.values(t, a, name)
				worst, _ := vitMaxDiff(t, name, got, want)
				top := 0.0
				for _, x := range want {
					top = math.Max(top, math.Abs(float64(x)))
				}
				t.Logf("%s: max |Go bf16 - transformers f32| %.3g (%.2f%% of its largest value)", name, worst, 100*worst/top)
				if worst > 0.03*top {
					t.Errorf("%s: max |Go bf16 - transformers f32| = %.3g, over 3%% of %.3g", name, worst, top)
				}
			}
			check("last_hidden_state", out.Last)
			check("pooler_output", out.Pooled)
			if out.Embeds != nil {
				check("image_embeds", out.Embeds)
			}
		})
	}
}

// DINOv2 reads inputs of any multiple of the patch (its position embeddings interpolated);
// CLIP and SigLIP refuse sides other than image_size.
func TestViTInputSides(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		f := loadFixture(t, family)
		m, err := LoadViT(f.dir, gotch.CPU, raw.Float32)
		if err != nil {
			t.Fatal(err)
		}
		S := 48
		out, err := m.Forward(make([]float32, 2*3*S*S), 2)
		switch {
		case family == "dinov2" && (err != nil || out.T != 37):
			t.Errorf("%s at %d: %v (T %v)", family, S, err, out)
		case family != "dinov2" && (err == nil || !strings.Contains(err.Error(), "reads 32")):
			t.Errorf("%s at %d: error %v, want one naming the side it reads", family, S, err)
		}
		if _, err := m.Forward(make([]float32, 3*30*30), 1); err == nil || !strings.Contains(err.Error(), "patches") {
			t.Errorf("%s: side 30 with patches of 8: error %v", family, err)
		}
		m.Close()
	}
}

// vitCopyFixture copies a family's model folder into a temporary folder, with the safetensors
// header edited by edit (names to shapes and offsets) and config.json by editConfig.
func vitCopyFixture(t *testing.T, family string, edit func(head map[string]map[string]any), editConfig func(cfg map[string]any)) string {
	t.Helper()
	src := filepath.Join("testdata", "transformers", family)
	dir := t.TempDir()
	for _, n := range []string{"config.json", "preprocessor_config.json"} {
		js, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if n == "config.json" && editConfig != nil {
			var cfg map[string]any
			if err := json.Unmarshal(js, &cfg); err != nil {
				t.Fatal(err)
			}
			editConfig(cfg)
			if js, err = json.Marshal(cfg); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, n), js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data[:8])
	var head map[string]map[string]any
	if err := json.Unmarshal(data[8:8+n], &head); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(head)
	}
	hj, err := json.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(hj)))
	buf.Write(hj)
	buf.Write(data[8+n:])
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A missing, unexpected or misshapen tensor, an unknown model_type or processor is an error
// naming it; a full two-tower folder's text tower is accepted unread.
func TestViTLoadErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cases := []struct {
		name, family string
		edit         func(map[string]map[string]any)
		cfg          func(map[string]any)
		want         string // "" for no error
	}{
		{"missing", "siglip_vision", func(h map[string]map[string]any) { delete(h, "head.probe") }, nil, "no tensor head.probe"},
		{"missing layer", "clip_vision", nil, func(c map[string]any) { c["num_hidden_layers"] = 3 }, "no tensor vision_model.encoder.layers.2."},
		{"extra", "dinov2", func(h map[string]map[string]any) { h["encoder.layer.9.norm1.weight"] = h["layernorm.weight"] }, nil, "encoder.layer.9.norm1.weight"},
		{"shape", "dinov2", func(h map[string]map[string]any) { h["encoder.layer.1.mlp.fc1.weight"]["shape"] = []int{32, 64} }, nil, "encoder.layer.1.mlp.fc1.weight has shape [32 64]"},
		{"config shape", "clip_vision", nil, func(c map[string]any) { c["projection_dim"] = 8 }, "visual_projection.weight has shape [16 32]"},
		{"model_type", "clip_vision", nil, func(c map[string]any) { c["model_type"] = "vit" }, `model_type "vit"`},
		{"activation", "siglip_vision", nil, func(c map[string]any) { c["hidden_act"] = "relu" }, `hidden_act "relu"`},
		{"text tower of a vision model", "clip_vision", func(h map[string]map[string]any) {
			h["text_model.final_layer_norm.weight"] = h["vision_model.post_layernorm.weight"]
		}, nil, "text_model.final_layer_norm.weight"},
		{"full clip folder", "clip_vision", func(h map[string]map[string]any) {
			h["text_model.final_layer_norm.weight"] = h["vision_model.post_layernorm.weight"]
			h["logit_scale"] = h["vision_model.post_layernorm.weight"]
		}, func(c map[string]any) {
			vc := map[string]any{}
			for k, v := range c {
				vc[k] = v
			}
			delete(vc, "model_type")
			delete(vc, "projection_dim")
			for k := range c {
				delete(c, k)
			}
			c["model_type"], c["projection_dim"], c["vision_config"] = "clip", 16, vc
		}, ""},
		{"siglip under vision_model.", "siglip_vision", func(h map[string]map[string]any) {
			var keys []string
			for k := range h {
				if k != "__metadata__" {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				h["vision_model."+k] = h[k]
				delete(h, k)
			}
		}, nil, ""},
	}
	cases = append(cases, []struct {
		name, family string
		edit         func(map[string]map[string]any)
		cfg          func(map[string]any)
		want         string
	}{
		{"clip without projection", "clip_vision", func(h map[string]map[string]any) { delete(h, "visual_projection.weight") }, nil, ""},
		{"dinov2 classification folder", "dinov2", func(h map[string]map[string]any) {
			var keys []string
			for k := range h {
				if k != "__metadata__" {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				h["dinov2."+k] = h[k]
				delete(h, k)
			}
			h["classifier.bias"] = h["dinov2.layernorm.bias"]
		}, nil, ""},
		{"dinov2 without mask token", "dinov2", nil, func(c map[string]any) { c["use_mask_token"] = false }, "embeddings.mask_token"},
	}...)
	for _, c := range cases {
		dir := vitCopyFixture(t, c.family, c.edit, c.cfg)
		m, err := LoadViT(dir, gotch.CPU, raw.Float32)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.want)
		}
		if err == nil {
			if c.name == "clip without projection" && (m.Dim() != 32 || m.proj != nil) {
				t.Errorf("%s: Dim %d, want the pooled output's 32", c.name, m.Dim())
			}
			m.Close()
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// A full CLIP folder's vision tower gives the vision model's outputs.
	dir := vitCopyFixture(t, "clip_vision", cases[8].edit, cases[8].cfg)
	m, err := LoadViT(dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := loadFixture(t, "clip_vision")
	a := raw.New(-1)
	defer a.Free()
	px, _ := f.values(t, a, "pixel_values")
	out, err := m.Forward(px, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.values(t, a, "image_embeds")
	if worst, _ := vitMaxDiff(t, "image_embeds", out.Embeds, want); worst > 1e-4 {
		t.Errorf("full CLIP folder: image_embeds differ by %.3g", worst)
	}
}

// preprocessor_config.json: legacy integer sizes, defaults, and errors naming the field.
func TestPreprocessConfig(t *testing.T) {
	p, err := parseViTImageProcessor(ParsePreprocessorConfig([]byte(`{"feature_extractor_type": "CLIPFeatureExtractor", "size": 224, "crop_size": 224, "resample": 3}`)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != "CLIPImageProcessor" || p.Shortest != 224 || !p.Crop || p.CropH != 224 || p.FitSide() != 224 || p.Mean[0] != 0.48145466 {
		t.Errorf("legacy CLIP config read as %+v", p)
	}
	p, err = parseViTImageProcessor(ParsePreprocessorConfig([]byte(`{"image_processor_type": "SiglipImageProcessorFast", "size": 384, "image_mean": 0.5}`)))
	if err != nil {
		t.Fatal(err)
	}
	if h, w := p.OutSize(); h != 384 || w != 384 || p.Crop || p.Std[2] != 0.5 {
		t.Errorf("SigLIP config read as %+v", p)
	}
	for js, want := range map[string]string{
		`{"image_processor_type": "ViTImageProcessor"}`:                                `"ViTImageProcessor"`,
		`{"image_processor_type": "CLIPImageProcessor", "resample": 0}`:                "resample 0",
		`{"image_processor_type": "BitImageProcessor", "size": {"longest_edge": 5}}`:   "longest_edge",
		`{"image_processor_type": "CLIPImageProcessor", "image_std": [1, 2]}`:          "image_std",
		`{"image_processor_type": "CLIPImageProcessor", "crop_size": {"height": 0}}`:   "crop_size",
		`{"image_processor_type": "SiglipImageProcessor", "do_pad": true}`:             "do_pad",
		`{"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 0}}`: "shortest_edge",
		`{"image_processor_type": "CLIPImageProcessor", "rescale_factor": 0}`:          "rescale_factor",
		`{}`: "no image_processor_type",
	} {
		if _, err := parseViTImageProcessor(ParsePreprocessorConfig([]byte(js))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %s", js, err, want)
		}
	}
	// Centre crop pads an image smaller than the window, centred (transformers' center_crop).
	img := []uint8{1, 1, 1, 2, 2, 2} // 2x1
	got := vitCenterCrop(img, 2, 1, 4, 3)
	want := make([]uint8, 3*4*3)
	copy(want[3*(1*4+1):], img)
	if !bytes.Equal(got, want) {
		t.Errorf("centerCrop padded 2x1 to 4x3 as %v, want %v", got, want)
	}
}
