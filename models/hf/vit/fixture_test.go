package vit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/reward"
)

// The vision families and their fixtures (testdata/transformers, oracle transformers 5.17).
var vitFamilies = []string{"clip_vision", "dinov2", "siglip_vision"}

var (
	_ eval.ImageEmbedder = (*Model)(nil)
	_ reward.Embedder    = Planar{}
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
func vitFixtureRGB(t *testing.T, f *hftest.Fixture) (w, h int, rgb []uint8) {
	t.Helper()
	dtype, shape, data, ok := f.Tensors.Raw("image_rgb")
	if !ok || dtype != "U8" || len(shape) != 3 || shape[2] != 3 {
		t.Fatalf("%s: expected.safetensors has no U8 image_rgb [H, W, 3]", f.Dir)
	}
	h, w = int(shape[0]), int(shape[1])
	rgb = append([]uint8(nil), data...)
	if len(rgb) != 3*w*h {
		t.Fatalf("image_rgb: %d bytes for %v", len(rgb), shape)
	}
	fp, err := os.Open(filepath.Join(f.Dir, "image.png"))
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

// vitCopyFixture copies a family's model folder into a temporary folder, with the safetensors
// header edited by edit (names to shapes and offsets) and config.json by editConfig.
func vitCopyFixture(t *testing.T, family string, edit func(head map[string]map[string]any), editConfig func(cfg map[string]any)) string {
	t.Helper()
	src := hftest.Dir(family)
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
