package janus

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
)

func jpRows(p *Policy) []Row {
	rng := rand.New(rand.NewPCG(4, 4))
	codes := func() []int {
		c := make([]int, 16)
		for i := range c {
			c[i] = rng.IntN(32)
		}
		return c
	}
	return []Row{
		{Image: 0, Prompt: jpPrompt(5), Text: []int{10, 11, jpEOS}},
		{Image: -1, Prompt: []int{1, 20, 21, jpBOI}, Codes: codes()},
		{Image: 1, Prompt: jpPrompt(6, 7, 8), Text: []int{12, jpEOS}},
		{Image: -1, Prompt: p.Unconditional([]int{1, 30, 31, 32, jpBOI}), Codes: codes()},
	}
}

func lossValue(t *testing.T, p *Policy, imgs []images.Planar, rows []Row) float64 {
	t.Helper()
	l, err := p.SequenceLoss(imgs, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer l.MustDrop()
	return l.Float64Values()[0]
}

// SequenceLoss is the mean over rows of each row's mean target cross-entropy: a batch's loss is
// the mean of its rows' losses alone (padding and grouping change nothing); a text row's loss is
// -mean of ScoreText's log-probs of its target at temperature 1; a code row's is the
// cross-entropy computed here in float64 from generation_head's logits of the forward pass, which
// reference_test.go checks against the reference. (Oracles: ScoreText, and log-softmax by hand.)
func TestJanusPolicySequenceLoss(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 12))
	imgs := jpImages(2, 2)
	rows := jpRows(p)
	all := lossValue(t, p, imgs, rows)
	mean := 0.0
	alone := make([]float64, len(rows))
	for i := range rows {
		alone[i] = lossValue(t, p, imgs, rows[i:i+1])
		mean += alone[i] / float64(len(rows))
	}
	rev := lossValue(t, p, imgs, []Row{rows[3], rows[2], rows[1], rows[0]})
	t.Logf("batch %.7f, mean of rows %.7f, reversed %.7f", all, mean, rev)
	if math.Abs(all-mean) > 1e-5*math.Abs(mean) || math.Abs(rev-mean) > 1e-5*math.Abs(mean) {
		t.Errorf("batch loss %v (reversed %v), mean of its rows' losses %v", all, rev, mean)
	}

	for _, i := range []int{0, 2} {
		r := rows[i]
		sc, err := p.ScoreText(imgs[r.Image:r.Image+1], 1, r.Prompt, [][]int{r.Text}, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for _, lp := range scoreRows(t, sc, [][]int{r.Text})[0] {
			want -= float64(lp) / float64(len(r.Text))
		}
		sc.Drop()
		if math.Abs(alone[i]-want) > 1e-5*want {
			t.Errorf("text row %d: loss %v, -mean ScoreText log-prob %v", i, alone[i], want)
		}
	}

	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	for _, i := range []int{1, 3} {
		r := rows[i]
		in := Batch{IDs: [][]int{slices.Concat(r.Prompt, make([]int, len(r.Codes)))},
			Codes: [][]int{slices.Concat(slices.Repeat([]int{-1}, len(r.Prompt)), r.Codes)}}
		a := raw.New(-1)
		h, err := p.Model.forward(a, in, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		lg := tensorValues(t, a, p.Model.imageLogits(a, h)) // [1, T, K]
		a.Free()
		want := 0.0
		for k, code := range r.Codes {
			row := lg[(len(r.Prompt)-1+k)*32 : (len(r.Prompt)+k)*32]
			top, z := float64(slices.Max(row)), 0.0
			for _, v := range row {
				z += math.Exp(float64(v) - top)
			}
			want -= (float64(row[code]) - top - math.Log(z)) / float64(len(r.Codes))
		}
		if math.Abs(alone[i]-want) > 1e-5*want {
			t.Errorf("code row %d: loss %v, cross-entropy by hand %v", i, alone[i], want)
		}
	}
	if _, err := p.SequenceLoss(imgs, []Row{{Image: 2, Prompt: jpPrompt(5), Text: []int{2}}}); err == nil {
		t.Error("a row showing a missing image was accepted")
	}
	if _, err := p.SequenceLoss(imgs, []Row{{Image: 0, Prompt: jpPrompt(5)}}); err == nil {
		t.Error("a row without a target was accepted")
	}
}

// Gradients: SequenceLoss with "lm" and "gen" training lists exactly their weights and reaches
// every one of them, and nothing of the vision tower, aligner or VQ-VAE; VQLoss with "vq"
// training reaches the whole VQ-VAE (codebook included) and nothing else. (Oracle: autograd's
// definition.)
func TestJanusPolicyGradients(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	dir := writeJanusPolicyFolder(t, 13)
	imgs := jpImages(2, 3)
	for _, c := range []struct {
		parts []string
		loss  func(p *Policy) (*ts.Tensor, error)
	}{
		{[]string{"lm", "gen"}, func(p *Policy) (*ts.Tensor, error) { return p.SequenceLoss(imgs, jpRows(p)) }},
		{[]string{"vq"}, func(p *Policy) (*ts.Tensor, error) { return p.VQLoss(imgs) }},
	} {
		p := openJanusPolicy(t, dir, c.parts...)
		want := 0
		for _, prm := range p.Model.Params() {
			if slices.Contains(c.parts, prm.Part) {
				want++
			}
		}
		if n := len(p.TrainableParams()); n != want {
			t.Errorf("%d trainable parameters, the parts %v have %d", n, c.parts, want)
		}
		l, err := c.loss(p)
		if err != nil {
			t.Fatal(err)
		}
		if v := l.Float64Values()[0]; math.IsNaN(v) || math.IsInf(v, 0) || l.Backward() != nil {
			t.Fatalf("%v: loss %v", c.parts, v)
		}
		l.MustDrop()
		a := raw.New(-1)
		for _, prm := range p.Model.Params() {
			g, on := a.Grad(prm.Tensor), slices.Contains(c.parts, prm.Part)
			switch {
			case on && !raw.Defined(g):
				t.Errorf("%s (%s) trains but has no gradient", prm.Name, prm.Part)
			case on && !slices.ContainsFunc(tensorValues(t, a, g), func(v float32) bool { return v != 0 }):
				t.Errorf("%s (%s) has an all-zero gradient", prm.Name, prm.Part)
			case !on && (raw.Defined(g) || raw.RequiresGrad(prm.Tensor)):
				t.Errorf("%s (%s) is frozen but has a gradient or requires one", prm.Name, prm.Part)
			}
		}
		a.Free()
	}
}
