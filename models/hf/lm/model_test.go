package lm

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

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
			f := hftest.Open(t, family)
			m, err := Load(f.Dir, gotch.CPU, c.kind)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a := raw.New(-1)
			defer a.Free()
			in := f.Exp.Inputs
			hidden, logits, err := m.Forward(a, hf.Batch{IDs: in.InputIDs, Pos: in.PositionIDs, Mask: in.AttentionMask}, nil)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got raw.Tensor) {
				want, shape := f.Values(t, a, name)
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
			f := hftest.Open(t, family)
			m, err := Load(f.Dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var prompts [][]int
			for b, row := range f.Exp.Inputs.InputIDs {
				var p []int
				for i, id := range row {
					if f.Exp.Inputs.AttentionMask[b][i] == 1 {
						p = append(p, id)
					}
				}
				prompts = append(prompts, p)
			}
			got, err := m.Generate(prompts, hf.GenerateOptions{MaxNew: f.Exp.Generation.MaxNew})
			if err != nil {
				t.Fatal(err)
			}
			for b := range got {
				if fmt.Sprint(got[b]) != fmt.Sprint(f.Exp.Generation.Generate[b]) {
					t.Errorf("row %d: Go %v, transformers %v", b, got[b], f.Exp.Generation.Generate[b])
				}
			}
		})
	}
}
