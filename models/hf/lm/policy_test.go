package lm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Oracles: transformers' greedy generation (through Generate, checked against it above) and
// the policy's own two paths, the cached sampler and full teacher forcing, which must agree.
func TestTextPolicy(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := hftest.Dir("qwen2")
	prompt := []int{310, 341, 333}
	detok := func(ids []int) string { return fmt.Sprint(ids) }
	p, err := NewTextPolicy(dir, gotch.CPU, raw.Float32, prompt, []int{362}, detok, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	imgs := make([]images.Planar, 2)

	// Greedy sampling is greedy generation of the prompt.
	roll, err := p.Sample(imgs, 2, policy.SampleOptions{Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.LM.Generate([][]int{prompt}, hf.GenerateOptions{MaxNew: 6, Stop: []int{362}})
	if err != nil {
		t.Fatal(err)
	}
	for r := range roll.Tokens {
		if fmt.Sprint(roll.Tokens[r]) != fmt.Sprint(want[0]) {
			t.Errorf("greedy row %d: %v, generate %v", r, roll.Tokens[r], want[0])
		}
	}

	textPolicyCheckSampled(t, p, imgs)

	// A saved policy is a model folder that loads back with the same weights.
	out := filepath.Join(t.TempDir(), "model.safetensors")
	if err := p.Save(out, map[string]string{"step": "3"}); err != nil {
		t.Fatal(err)
	}
	q, err := Load(filepath.Dir(out), gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	again, err := q.Generate([][]int{prompt}, hf.GenerateOptions{MaxNew: 6, Stop: []int{362}})
	if err != nil || fmt.Sprint(again) != fmt.Sprint(want) {
		t.Errorf("the saved model generates %v (%v), the original %v", again, err, want)
	}
}

// textPolicyCheckSampled checks that sampled captions' log-probs agree with teacher forcing's,
// which records a graph that reaches the weights.
func textPolicyCheckSampled(t *testing.T, p *TextPolicy, imgs []images.Planar) {
	t.Helper()
	// Sampled captions' log-probs agree with teacher forcing, which records a graph.
	rngs := make([]*rand.Rand, 4)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 9))
	}
	roll, err := p.Sample(imgs, 2, policy.SampleOptions{Temperature: 0.8, MinLen: 2}, rngs)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.LogProbs(imgs, 2, roll.Tokens, 0.8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	got := make([]float32, 4*sc.T)
	if err := sc.LogProbs.CopyData(got, uint(len(got))); err != nil {
		t.Fatal(err)
	}
	for r, lps := range roll.LogProbs {
		if len(roll.Hidden[r]) != 64 || roll.Lengths[r] < 2 {
			t.Errorf("row %d: hidden %d values, %d tokens", r, len(roll.Hidden[r]), roll.Lengths[r])
		}
		for i, lp := range lps {
			if d := math.Abs(float64(lp - got[r*sc.T+i])); d > 1e-5 {
				t.Errorf("row %d token %d: sampled log-prob %v, teacher-forced %v", r, i, lp, got[r*sc.T+i])
			}
		}
	}
	loss := sc.LogProbs.MustSum(gotch.Float, false)
	loss.MustBackward()
	loss.MustDrop()
	nonzero := 0
	for _, prm := range p.TrainableParams() {
		g := prm.Tensor.MustGrad(false)
		if g.MustAbs(true).MustSum(gotch.Float, true).Float64Values()[0] > 0 {
			nonzero++
		}
	}
	if nonzero < len(p.TrainableParams())/2 {
		t.Errorf("%d of %d parameters got a gradient", nonzero, len(p.TrainableParams()))
	}
}
