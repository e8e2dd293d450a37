package vit

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// Each family's outputs on the fixture's own pixel_values match transformers' within 1e-4.
func TestViTMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := hftest.Open(t, family)
			m, err := Load(f.Dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a := raw.New(-1)
			defer a.Free()
			px, shape := f.Values(t, a, "pixel_values")
			out, err := m.Forward(px, int(shape[0]))
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got []float32) {
				want, _ := f.Values(t, a, name)
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
			if _, ok := f.Tensors.Shape("image_embeds"); ok {
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

// In bfloat16 every output stays within 3% of the tensor's largest value of transformers'
// float32 output, and a forward pass leaves nothing behind in the weights' arena.
func TestViTBFloat16(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			f := hftest.Open(t, family)
			m, err := Load(f.Dir, gotch.CPU, raw.BFloat16)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a := raw.New(-1)
			defer a.Free()
			px, _ := f.Values(t, a, "pixel_values")
			held := m.w.Len()
			out, err := m.Forward(px, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.w.Len() != held {
				t.Errorf("the weights' arena went from %d to %d handles in a forward pass", held, m.w.Len())
			}
			check := func(name string, got []float32) {
				want, _ := f.Values(t, a, name)
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
		f := hftest.Open(t, family)
		m, err := Load(f.Dir, gotch.CPU, raw.Float32)
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
