package trainer

import (
	"fmt"
	"math"
)

// AdamW is decoupled-weight-decay Adam on a flat float32 parameter vector. Gradients arrive
// packed into one host buffer (the same buffer that is all-reduced across ranks), so the update,
// the global-norm clip and the optimizer state live in plain Go slices: the state is saved and
// restored exactly, which makes a resumed run match an uninterrupted one.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	M, V                           []float32 // first and second moments, one per parameter
	Step                           int       // updates applied so far
}

// NewAdamW returns an optimizer for n parameters.
func NewAdamW(n int, beta1, beta2, eps, weightDecay float64) *AdamW {
	return &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay, M: make([]float32, n), V: make([]float32, n)}
}

// Update applies one step with learning rate lr to params given grads. decay[i] says whether
// parameter i gets weight decay (norms and biases usually do not); nil means all do.
func (o *AdamW) Update(params, grads []float32, decay []bool, lr float64) error {
	if len(params) != len(o.M) || len(grads) != len(o.M) || (decay != nil && len(decay) != len(o.M)) {
		return fmt.Errorf("adamw: %d parameters, %d gradients, state for %d", len(params), len(grads), len(o.M))
	}
	o.Step++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	c2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	stepSize := float32(lr / c1)
	rc2 := float32(1 / math.Sqrt(c2))
	eps := float32(o.Eps)
	wd := float32(1 - lr*o.WeightDecay)
	for i, g := range grads {
		m := b1*o.M[i] + (1-b1)*g
		v := b2*o.V[i] + (1-b2)*g*g
		o.M[i], o.V[i] = m, v
		p := params[i]
		if decay == nil || decay[i] {
			p *= wd
		}
		params[i] = p - stepSize*m/(float32(math.Sqrt(float64(v)))*rc2+eps)
	}
	return nil
}

// ClipGradNorm scales grads so that their global L2 norm is at most maxNorm (no clipping when
// maxNorm <= 0) and returns the norm before clipping. A NaN or Inf norm is returned as is and the
// gradients are left alone: the caller stops the run.
func ClipGradNorm(grads []float32, maxNorm float64) float64 {
	var ss float64
	for _, g := range grads {
		ss += float64(g) * float64(g)
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm && !math.IsInf(norm, 0) && !math.IsNaN(norm) {
		s := float32(maxNorm / (norm + 1e-6))
		for i := range grads {
			grads[i] *= s
		}
	}
	return norm
}

// Schedule is the learning rate at a step: linear warmup from 0, then constant or cosine decay
// to MinRatio * LR at Total steps.
type Schedule struct {
	LR       float64
	Warmup   int
	Total    int
	Cosine   bool
	MinRatio float64
}

// At returns the learning rate for update number step (1-based).
func (s Schedule) At(step int) float64 {
	if s.Warmup > 0 && step <= s.Warmup {
		return s.LR * float64(step) / float64(s.Warmup)
	}
	if !s.Cosine || s.Total <= s.Warmup {
		return s.LR
	}
	p := math.Min(1, float64(step-s.Warmup)/float64(s.Total-s.Warmup))
	return s.LR * (s.MinRatio + (1-s.MinRatio)*0.5*(1+math.Cos(math.Pi*p)))
}
