package janus

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// The oracle of these tests, unless a test says otherwise, is a PyTorch 1.13 reference written
// from transformers' modeling_janus.py (scripts/oracles/janus.py with scripts/oracles/janusref): its
// tiny random Janus (testdata/janus/model.safetensors in transformers' names) and its outputs
// (testdata/janus/reference.safetensors). Its generations recompute the whole sequence at every
// step, so they also check the Go decoder's key/value cache.

const janusDir = "../testdata/janus"

// janusTol is the largest |Go - reference| allowed, relative to the largest |reference|.
const janusTol = 1e-5

type janusFixture struct {
	w *hf.Weights
}

// janusFixtures are the folders the comparisons run on: the reference's, and transformers' own
// (scripts/oracles/hf-fixtures.py on a host with transformers; its outputs under the same names), when
// that one has been made.
var janusFixtures = []struct{ dir, file string }{
	{janusDir, "reference.safetensors"},
	{"../testdata/transformers/janus", "expected.safetensors"},
}

// forEachJanusFixture runs check on the model and outputs of each fixture present.
func forEachJanusFixture(t *testing.T, check func(t *testing.T, m *Model, f *janusFixture)) {
	for i, fx := range janusFixtures {
		path := filepath.Join(fx.dir, fx.file)
		if _, err := os.Stat(path); i > 0 && err != nil {
			continue // transformers' fixture is made on a GPU host, and may not be there yet
		}
		t.Run(fx.dir, func(t *testing.T) { // a subtest runs on its own goroutine: lock that one
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			w, err := hf.OpenSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			m, err := Load(fx.dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			check(t, m, &janusFixture{w})
		})
	}
}

// floats reads a float32 tensor of the reference into arena a.
func (f *janusFixture) floats(t *testing.T, a *raw.Arena, name string) (raw.Tensor, []float32) {
	t.Helper()
	shape, ok := f.w.Shape(name)
	if !ok {
		t.Fatalf("reference.safetensors has no %s", name)
	}
	x, err := f.w.Load(a, name, raw.Float32, shape...)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float32, hf.Numel(shape))
	a.CopyToFloat32(x, vals)
	return x, vals
}

// ints reads an int64 tensor of the reference as rows of its last dimension.
func (f *janusFixture) ints(t *testing.T, name string) [][]int {
	t.Helper()
	dtype, shape, b, ok := f.w.Raw(name)
	if !ok || dtype != "I64" {
		t.Fatalf("reference.safetensors has no I64 %s", name)
	}
	n := int(shape[len(shape)-1])
	var out [][]int
	for i := 0; i < len(b)/8; i++ {
		if i%n == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], int(int64(binary.LittleEndian.Uint64(b[8*i:]))))
	}
	return out
}

// janusCheck compares got with the reference's want within janusTol of its largest value.
func janusCheck(t *testing.T, a *raw.Arena, name string, got raw.Tensor, want []float32) {
	t.Helper()
	g := make([]float32, len(want))
	a.CopyToFloat32(a.Contiguous(a.To(got, raw.Float32)), g)
	if err := a.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	janusCheckValues(t, name, g, want)
}

func janusCheckValues(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, the reference %d", name, len(got), len(want))
	}
	worst, scale := 0.0, 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	t.Logf("%s: max |Go - reference| %.3g of values up to %.3g", name, worst, scale)
	if !(worst <= janusTol*scale) {
		t.Errorf("%s: max |Go - reference| = %.3g, over %.0e of the largest value %.3g", name, worst, janusTol, scale)
	}
}

func loadJanusFixture(t *testing.T) *Model {
	t.Helper()
	m, err := Load(janusDir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func janusCopy(t *testing.T, m *Model, edit func(a *raw.Arena, names map[string]raw.Tensor)) string {
	t.Helper()
	dir := t.TempDir()
	a := raw.New(-1)
	defer a.Free()
	names := map[string]raw.Tensor{}
	for k, v := range m.names {
		names[k] = v
	}
	edit(a, names)
	if err := hf.SaveFolder(filepath.Join(dir, "model.safetensors"), gotch.CPU, names, janusDir, nil, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unpad keeps the tokens of each row that its attention mask opens (a left-padded batch's
// prompts).
func unpad(ids, mask [][]int) [][]int {
	out := make([][]int, len(ids))
	for r, row := range ids {
		for i, id := range row {
			if mask[r][i] == 1 {
				out[r] = append(out[r], id)
			}
		}
	}
	return out
}
