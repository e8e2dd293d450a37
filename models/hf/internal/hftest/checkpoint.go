package hftest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// CheckCheckpointing checks a policy's activation checkpointing against its ordinary autograd
// path (the oracle): score runs the policy's teacher-forced log-probs (float32 weights) with
// checkpointing as set(on) says. Without it, the Scores have no Finish; with it, the log-probs
// are the same values bit for bit, the backward of a fixed weighted sum of them reaches fewer
// parameters before Finish than after (the recompute does the work), and after Finish every
// parameter's gradient equals the ordinary path's within tol (absolute, on gradients scaled to
// a largest value of about 1). It returns the worst difference.
func CheckCheckpointing(t *testing.T, params []policy.Param, set func(on bool), score func() (*policy.Scores, error), tol float64) float64 {
	t.Helper()
	set(false)
	plainLP, plain := checkpointRun(t, params, score, false)
	set(true)
	ckptLP, ckpt := checkpointRun(t, params, score, true)
	set(false)
	if !slices.Equal(plainLP, ckptLP) {
		t.Errorf("the log-probs differ with checkpointing")
	}
	scale := 0.0
	for _, g := range plain {
		for _, v := range g {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
	}
	if scale == 0 {
		t.Fatalf("the ordinary path gives no gradient")
	}
	worst, zero := 0.0, 0
	for i, p := range params {
		if !slices.ContainsFunc(plain[i], func(v float32) bool { return v != 0 }) {
			zero++
		}
		for j := range plain[i] {
			d := math.Abs(float64(plain[i][j]-ckpt[i][j])) / scale
			if d > worst {
				worst = d
			}
			if d > tol {
				t.Errorf("%s[%d]: gradient %v with checkpointing, %v without (scaled difference %g > %g)", p.Name, j, ckpt[i][j], plain[i][j], d, tol)
				break
			}
		}
	}
	if zero > len(params)/4 {
		t.Errorf("%d of %d parameters get no gradient: the check says little", zero, len(params))
	}
	return worst
}

// checkpointRun scores, back-propagates sum(logp * w) for fixed weights w (and Finish with
// checkpointing) and returns the log-probs and every parameter's gradient, which it zeroes.
func checkpointRun(t *testing.T, params []policy.Param, score func() (*policy.Scores, error), ckpt bool) ([]float32, [][]float32) {
	t.Helper()
	sc, err := score()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	if (sc.Finish != nil) != ckpt {
		t.Fatalf("checkpointing %v, but the scores' Finish is set: %v", ckpt, sc.Finish != nil)
	}
	a := raw.New(-1)
	defer a.Free()
	lp := raw.Handle(sc.LogProbs)
	sh := a.Shape(lp)
	if len(sh) != 2 {
		t.Fatalf("log-probs of shape %v (%v)", sh, a.Err())
	}
	N, T := int(sh[0]), int(sh[1])
	vals := make([]float32, N*T)
	a.CopyToFloat32(a.Contiguous(lp), vals)
	w := make([]float32, N*T)
	rng := rand.New(rand.NewPCG(7, 21))
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	a.Backward(a.Sum(a.Mul(lp, a.FromFloat32(w, int64(N), int64(T)))))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	if ckpt {
		before := countGrads(t, params)
		if err := sc.Finish(); err != nil {
			t.Fatal(err)
		}
		if after := countGrads(t, params); after <= before {
			t.Errorf("Finish gave no parameter a gradient: %d before, %d after", before, after)
		}
	}
	grads := make([][]float32, len(params))
	for i, p := range params {
		grads[i] = make([]float32, numel(p.Shape))
		g := a.Grad(raw.Handle(p.Tensor))
		if !raw.Defined(g) {
			continue
		}
		a.CopyToFloat32(a.Contiguous(g), grads[i])
		a.Zero_(g)
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return vals, grads
}

// countGrads counts the parameters with a nonzero gradient.
func countGrads(t *testing.T, params []policy.Param) int {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	n := 0
	for _, p := range params {
		g := a.Grad(raw.Handle(p.Tensor))
		if !raw.Defined(g) {
			continue
		}
		buf := make([]float32, numel(p.Shape))
		a.CopyToFloat32(a.Contiguous(g), buf)
		if slices.ContainsFunc(buf, func(v float32) bool { return v != 0 }) {
			n++
		}
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func numel(shape []int64) int {
	n := 1
	for _, s := range shape {
		n *= int(s)
	}
	return n
}
