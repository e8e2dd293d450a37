package lm

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Activation checkpointing of a LoRA policy gives the adapters the gradients of the ordinary
// autograd path (1e-6 of the largest), and the base weights get none. Oracle: the ordinary
// path (hftest.CheckCheckpointing), with B set non-zero so that every adapter has a gradient.
func TestLoRACheckpointing(t *testing.T) {
	runtime.LockOSThread() // libtorch's grad mode is the thread's
	defer runtime.UnlockOSThread()
	p, err := NewTextPolicy(hftest.Dir("qwen2"), gotch.CPU, raw.Float32, []int{310, 341, 333}, []int{362},
		func([]int) string { return "" }, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.AddLoRA(hf.LoRAConfig{Rank: 4, Alpha: 8, Targets: hf.LoRATargets()}, 5); err != nil {
		t.Fatal(err)
	}
	a := raw.New(gotch.CPU.CInt())
	prev := raw.SetGradEnabled(false)
	for _, prm := range p.TrainableParams() {
		if strings.Contains(prm.Name, ".lora_B.") {
			vals := make([]float32, hf.Numel(prm.Shape))
			for i := range vals {
				vals[i] = float32(0.05 * math.Cos(float64(7*i+len(prm.Name))))
			}
			a.Copy_(raw.Handle(prm.Tensor), a.FromFloat32(vals, prm.Shape...))
		}
	}
	raw.SetGradEnabled(prev)
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	imgs := make([]images.Planar, 2)
	tokens := [][]int{{5, 17, 300, 362}, {44, 362}, {7, 8, 9, 10, 11, 12}, {99}}
	score := func() (*policy.Scores, error) { return p.LogProbs(imgs, 2, tokens, 0.9, true) }
	worst := hftest.CheckCheckpointing(t, p.TrainableParams(), p.SetCheckpointing, score, 1e-6)
	t.Logf("largest gradient difference: %g of the largest gradient", worst)
	for name, h := range p.LM.Tensors() {
		if raw.RequiresGrad(h) {
			t.Errorf("base weight %s requires grad", name)
		}
	}
}
