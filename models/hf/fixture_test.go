package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// fixture is one family's folder of testdata/transformers: the checkpoint, expected.json and the
// tensors transformers computed (expected.safetensors). Oracle: transformers 5.17.
type fixture struct {
	dir string
	exp struct {
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
	tensors *Weights
}

func loadFixture(t *testing.T, family string) *fixture {
	t.Helper()
	f := &fixture{dir: filepath.Join("testdata", "transformers", family)}
	js, err := os.ReadFile(filepath.Join(f.dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &f.exp); err != nil {
		t.Fatal(err)
	}
	if f.tensors, err = openExpected(f.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.tensors.Close() })
	return f
}

// openExpected maps expected.safetensors as a Weights.
func openExpected(dir string) (*Weights, error) {
	w := &Weights{dir: dir, tensors: map[string]*stTensor{}}
	return w, w.open(filepath.Join(dir, "expected.safetensors"))
}

// values reads a float32 tensor of the fixture.
func (f *fixture) values(t *testing.T, a *raw.Arena, name string) ([]float32, []int64) {
	t.Helper()
	shape, ok := f.tensors.Shape(name)
	if !ok {
		t.Fatalf("%s: no expected tensor %s", f.dir, name)
	}
	x, err := f.tensors.Load(a, name, raw.Float32, shape...)
	if err != nil {
		t.Fatal(err)
	}
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	out := make([]float32, n)
	a.CopyToFloat32(x, out)
	return out, shape
}
