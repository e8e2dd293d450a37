package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

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

func TestLMMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range []struct {
		family string
		kind   raw.Kind
		tol    float64
	}{{"llama", raw.Float32, 1e-4}, {"qwen2", raw.Float32, 1e-4}, {"llama", raw.BFloat16, 0.03}, {"qwen2", raw.BFloat16, 0.03}} {
		family := c.family
		t.Run(family+"/"+c.kind.String(), func(t *testing.T) {
			f := loadFixture(t, family)
			m, err := LoadLM(f.dir, gotch.CPU, c.kind)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a := raw.New(-1)
			defer a.Free()
			in := f.exp.Inputs
			hidden, logits, err := m.Forward(a, Batch{IDs: in.InputIDs, Pos: in.PositionIDs, Mask: in.AttentionMask}, nil)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got raw.Tensor) {
				want, shape := f.values(t, a, name)
				g := make([]float32, len(want))
				a.CopyToFloat32(a.Contiguous(a.To(got, raw.Float32)), g)
				if err := a.Err(); err != nil {
					t.Fatal(err)
				}
				worst, scale := 0.0, 0.0
				last := shape[len(shape)-1]
				T := shape[1]
				for i := range want {
					b, pos := i/int(T*last), (i/int(last))%int(T)
					if in.AttentionMask[b][pos] == 0 {
						continue // padding positions are not compared: their outputs are unused
					}
					worst = math.Max(worst, math.Abs(float64(g[i]-want[i])))
					scale = math.Max(scale, math.Abs(float64(want[i])))
				}
				// The tolerance is relative to the tensor's largest value: bfloat16 keeps 8 bits of
				// mantissa (a rounding of 0.4% per operation).
				t.Logf("%s: max diff %.3g of values up to %.3g", name, worst, scale)
				if worst > c.tol*math.Max(1, scale) {
					t.Errorf("%s: max |Go - transformers| = %.3g over the real positions, values up to %.3g (tolerance %g relative)", name, worst, scale, c.tol)
				}
			}
			for i, h := range hidden {
				check("hidden_states."+string(rune('0'+i)), h)
			}
			check("logits", logits)
		})
	}
}

// Greedy generation with the key/value cache, from left-padded prompts, gives transformers'
// generate() token for token.
func TestGenerateMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range []string{"llama", "qwen2"} {
		t.Run(family, func(t *testing.T) {
			f := loadFixture(t, family)
			m, err := LoadLM(f.dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var prompts [][]int
			for b, row := range f.exp.Inputs.InputIDs {
				var p []int
				for i, id := range row {
					if f.exp.Inputs.AttentionMask[b][i] == 1 {
						p = append(p, id)
					}
				}
				prompts = append(prompts, p)
			}
			got, err := m.Generate(prompts, GenerateOptions{MaxNew: f.exp.Generation.MaxNew})
			if err != nil {
				t.Fatal(err)
			}
			for b := range got {
				if fmt.Sprint(got[b]) != fmt.Sprint(f.exp.Generation.Generate[b]) {
					t.Errorf("row %d: Go %v, transformers %v", b, got[b], f.exp.Generation.Generate[b])
				}
			}
		})
	}
}

// The decoder's cache holds one set of keys and values, however many steps run (the replaced
// ones are freed), and each step's temporaries are freed with it.
func TestDecoderCacheStaysOneCopy(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, err := LoadLM(filepath.Join("testdata", "transformers", "llama"), gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dec := m.NewStepper()
	defer dec.Close()
	in := Batch{IDs: [][]int{{1, 2, 3}}, Pos: [][]int{{0, 1, 2}}, Mask: [][]int{{1, 1, 1}}}
	for step := range 6 {
		if err := dec.Step(in); err != nil {
			t.Fatal(err)
		}
		if n := dec.keep.Len(); n != 2*len(m.layers) {
			t.Fatalf("step %d: the cache arena holds %d handles, want %d", step, n, 2*len(m.layers))
		}
		in = Batch{IDs: [][]int{{4}}, Pos: [][]int{{3 + step}}, Mask: [][]int{append(in.Mask[0], 1)}}
	}
	if sh := dec.keep.Shape(dec.cache.k[0]); sh[2] != 8 {
		t.Fatalf("cache of %v after a prompt of 3 and 5 steps, want 8 positions", sh)
	}
}
