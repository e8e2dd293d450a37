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
	// Master holds the float32 master values of a mixed-precision run, for a checkpoint (nil when
	// the parameters are float32 and so their own masters).
	Master []float32
}

// NewAdamW returns an optimizer for n parameters.
func NewAdamW(n int, beta1, beta2, eps, weightDecay float64) *AdamW {
	return &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay, M: make([]float32, n), V: make([]float32, n)}
}

// Segment is a run [Lo, Hi) of the flat vector and whether it gets weight decay.
type Segment struct {
	Lo, Hi int
	Decay  bool
}

// Update applies one step with learning rate lr to params given grads. segs must cover the
// vector; nil means one segment with decay and scale 1.
func (o *AdamW) Update(params, grads []float32, segs []Segment, lr float64) error {
	if len(params) != len(o.M) || len(grads) != len(o.M) {
		return fmt.Errorf("adamw: %d parameters, %d gradients, state for %d", len(params), len(grads), len(o.M))
	}
	if segs == nil {
		segs = []Segment{{0, len(params), true}}
	}
	o.Step++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	c2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	rc2 := float32(1 / math.Sqrt(c2))
	eps := float32(o.Eps)
	for _, sg := range segs {
		if sg.Lo < 0 || sg.Hi > len(params) || sg.Lo > sg.Hi {
			return fmt.Errorf("adamw: segment [%d, %d) outside %d parameters", sg.Lo, sg.Hi, len(params))
		}
		stepSize := float32(lr / c1)
		wd := float32(1)
		if sg.Decay {
			wd = float32(1 - lr*o.WeightDecay)
		}
		for i := sg.Lo; i < sg.Hi; i++ {
			g := grads[i]
			m := b1*o.M[i] + (1-b1)*g
			v := b2*o.V[i] + (1-b2)*g*g
			o.M[i], o.V[i] = m, v
			params[i] = params[i]*wd - stepSize*m/(float32(math.Sqrt(float64(v)))*rc2+eps)
		}
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
