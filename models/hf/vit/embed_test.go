package vit

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// Embedding the fixture's image gives transformers' feature, L2-normalised; a batch gives each
// image's own feature; the names and sizes are the families'.
func TestViTEmbed(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wantName := map[string]string{"clip_vision": "clip", "dinov2": "dinov2", "siglip_vision": "siglip"}
	wantSize := map[string]int{"clip_vision": 32, "dinov2": 36, "siglip_vision": 32}
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := hftest.Open(t, family)
			m, err := Load(f.Dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Name() != wantName[family] || m.Size() != wantSize[family] {
				t.Errorf("Name %q Size %d, want %q %d", m.Name(), m.Size(), wantName[family], wantSize[family])
			}
			vitCheckFixtureFeature(t, m, f)
			vitCheckSquares(t, m)
		})
	}
}

// vitCheckFixtureFeature checks the features of the fixture's image, as a float image and as
// the decoded image.png, against transformers' feature, L2-normalised.
func vitCheckFixtureFeature(t *testing.T, m *Model, f *hftest.Fixture) {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	feature := "pooler_output"
	if _, ok := f.Tensors.Shape("image_embeds"); ok {
		feature = "image_embeds"
	}
	want, _ := f.Values(t, a, feature)
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
	got := Planar{m}.Embed(im)
	worst, _ := vitMaxDiff(t, feature, got, want)
	t.Logf("normalised %s of image_rgb: max |Go - transformers| %.3g", feature, worst)
	if worst > 1e-4 {
		t.Errorf("normalised %s: max |Go - transformers| = %.3g", feature, worst)
	}

	// The decoded image.png, through EmbedImages.
	fp, err := os.Open(filepath.Join(f.Dir, "image.png"))
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
}

// vitCheckSquares checks that a batch of three squares embeds as three single embeddings, each
// of unit norm, and that a malformed square embeds to the zero vector.
func vitCheckSquares(t *testing.T, m *Model) {
	t.Helper()
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
}
