// Package hftest opens the transformers fixtures of models/hf/testdata for the tests of the
// family packages (models/hf/lm, qwenvl, vit): each family's tiny random checkpoint with its
// inputs and transformers' outputs (expected.json, expected.safetensors). Oracle: transformers
// 5.17 (testdata/transformers/README.md says how the fixtures were made). It is imported by
// tests only.
package hftest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Testdata is models/hf/testdata seen from a family package's folder (models/hf/<family>).
const Testdata = "../testdata"

// Dir is the folder of a family's transformers fixture (llama, qwen2, qwen2_5_vl, clip_vision,
// dinov2, siglip_vision), seen from a family package's folder.
func Dir(family string) string { return filepath.Join(Testdata, "transformers", family) }

// Fixture is one family's folder of testdata/transformers: the checkpoint, expected.json and the
// tensors transformers computed (expected.safetensors).
type Fixture struct {
	Dir string
	Exp struct {
		Inputs struct {
			InputIDs      [][]int `json:"input_ids"`
			AttentionMask [][]int `json:"attention_mask"`
			PositionIDs   [][]int `json:"position_ids"`
		} `json:"inputs"`
		Generation struct {
			MaxNew   int     `json:"max_new_tokens"`
			Generate [][]int `json:"generate"`
		} `json:"generation"`
	}
	Tensors *hf.Weights
}

// Open reads the fixture of a family; its tensors are closed when the test ends.
func Open(t *testing.T, family string) *Fixture {
	t.Helper()
	f := &Fixture{Dir: Dir(family)}
	js, err := os.ReadFile(filepath.Join(f.Dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &f.Exp); err != nil {
		t.Fatal(err)
	}
	if f.Tensors, err = hf.OpenSafetensors(filepath.Join(f.Dir, "expected.safetensors")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Tensors.Close() })
	return f
}

// Values reads a float32 tensor of the fixture.
func (f *Fixture) Values(t *testing.T, a *raw.Arena, name string) ([]float32, []int64) {
	t.Helper()
	shape, ok := f.Tensors.Shape(name)
	if !ok {
		t.Fatalf("%s: no expected tensor %s", f.Dir, name)
	}
	x, err := f.Tensors.Load(a, name, raw.Float32, shape...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, hf.Numel(shape))
	a.CopyToFloat32(x, out)
	return out, shape
}
