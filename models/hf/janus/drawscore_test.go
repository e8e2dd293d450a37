package janus

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The drawing direction's policy gradient needs the log-probability of every drawn code under
// the guided distribution it was drawn from. Sampled (DrawCodes: key/value cache, one code a
// step, mixing in float32 on the host) and teacher-forced (ScoreCodes: one pass over prompt and
// codes, mixing as tensors) agree within 1e-5, for prompts of different lengths, at a temperature
// and a guidance scale that are not 1; with guidance 1 and temperature 1 each row's mean equals
// -SequenceLoss of the same code row (right-padded, no twin rows). (Oracles: the model's two code
// paths; SequenceLoss, checked against log-softmax by hand in policy_train_test.go.)
func TestJanusPolicyCodesSampledMatchScored(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 21), "lm", "gen")
	prompts := [][]int{{1, 5, 6, 7, jpBOI}, {1, 8, jpBOI}, {1, jpBOI}}
	for _, o := range []ImageGenOptions{{Scale: 3, Temperature: 0.7}, {Scale: 1, Temperature: 1}} {
		codes, logp, err := p.DrawCodes(prompts, o, jpRngs(3, 9))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := p.ScoreCodes(prompts, codes, o, true)
		if err != nil {
			t.Fatal(err)
		}
		if sc.T != 16 || sc.Tokens != 3*16 {
			t.Fatalf("scores of %d codes padded to %d; want 48 and 16", sc.Tokens, sc.T)
		}
		forced := scoreRows(t, sc, codes)
		compareLogProbs(t, "codes", logp, forced)
		ent := make([]float32, 3*16)
		if err := sc.Entropy.CopyData(ent, uint(len(ent))); err != nil {
			t.Fatal(err)
		}
		for _, e := range ent {
			if !(e >= 0 && float64(e) <= math.Log(32)+1e-5) {
				t.Fatalf("entropy %v outside [0, log 32]", e)
			}
		}
		sc.Drop()
		if o.Scale != 1 {
			continue
		}
		for i, pr := range prompts {
			mean := 0.0
			for _, v := range forced[i] {
				mean += float64(v) / 16
			}
			ce := lossValue(t, p, nil, []Row{{Image: -1, Prompt: pr, Codes: codes[i]}})
			if math.Abs(mean+ce) > 1e-5 {
				t.Errorf("row %d: mean code log-prob %v, SequenceLoss %v", i, mean, ce)
			}
		}
	}
}

// ScoreCodes' graph reaches the generation path and the decoder through both the conditional
// rows and the unconditional twins: with guidance 3 the gradient of the generation head differs
// from the one with guidance 1 (conditional rows only) and is finite; bad input is refused.
// (Oracle: the mixing formula's derivative is not that of the conditional logits alone.)
func TestJanusPolicyScoreCodesGradients(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 22), "lm", "gen")
	prompts := [][]int{{1, 5, 6, jpBOI}, {1, 9, jpBOI}}
	codes, _, err := p.DrawCodes(prompts, ImageGenOptions{Scale: 2, Temperature: 1}, jpRngs(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	var head *ts.Tensor
	for _, prm := range p.TrainableParams() {
		if prm.Name == "model.generation_head.vision_head.weight" {
			head = prm.Tensor
		}
	}
	if head == nil {
		t.Fatal("no trainable generation head")
	}
	grads := map[float64][]float32{}
	for _, scale := range []float64{1, 3} {
		for _, prm := range p.TrainableParams() {
			prm.Tensor.ZeroGrad()
		}
		sc, err := p.ScoreCodes(prompts, codes, ImageGenOptions{Scale: scale, Temperature: 1}, false)
		if err != nil {
			t.Fatal(err)
		}
		s := sc.LogProbs.MustSum(gotch.Float, false)
		s.MustBackward()
		s.MustDrop()
		sc.Drop()
		g := head.MustGrad(false)
		v := make([]float32, g.Numel())
		if err := g.CopyData(v, uint(len(v))); err != nil {
			t.Fatal(err)
		}
		g.MustDrop()
		grads[scale] = v
	}
	diff, norm := 0.0, 0.0
	for i := range grads[1] {
		if x := float64(grads[3][i]); math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("gradient %v", x)
		}
		diff = math.Max(diff, math.Abs(float64(grads[3][i]-grads[1][i])))
		norm = math.Max(norm, math.Abs(float64(grads[1][i])))
	}
	if norm == 0 || diff < 1e-3*norm {
		t.Errorf("generation head gradient with guidance 3 differs from guidance 1 by %g (largest %g)", diff, norm)
	}
	for name, bad := range map[string]func() error{
		"rows": func() error {
			_, err := p.ScoreCodes(prompts, codes[:1], ImageGenOptions{Scale: 1, Temperature: 1}, false)
			return err
		},
		"boi": func() error {
			_, err := p.ScoreCodes([][]int{{1, 5}, {1, jpBOI}}, codes, ImageGenOptions{Scale: 1, Temperature: 1}, false)
			return err
		},
		"code count": func() error {
			_, err := p.ScoreCodes(prompts, [][]int{codes[0][:3], codes[1]}, ImageGenOptions{Scale: 1, Temperature: 1}, false)
			return err
		},
		"codebook": func() error {
			_, err := p.ScoreCodes(prompts, [][]int{append([]int{99}, codes[0][1:]...), codes[1]}, ImageGenOptions{Scale: 1, Temperature: 1}, false)
			return err
		},
		"temp": func() error { _, err := p.ScoreCodes(prompts, codes, ImageGenOptions{Scale: 1}, false); return err },
	} {
		if bad() == nil {
			t.Errorf("%s: bad input accepted", name)
		}
	}
}
