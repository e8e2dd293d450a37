package trainer

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/models/policy"
)

// learner is the update half of a training step, shared by SFT and GRPO: gradients of the
// trainable parameters are packed into one flat host buffer, averaged over ranks, clipped by
// their global norm and applied by AdamW to the flat parameter vector, which is written back.
type learner struct {
	model  *policy.Model
	flat   *Flat
	params []float32 // [N] the trainable values (identical on every rank)
	grads  []float32 // [N] gradient buffer, all-reduced in place
	opt    *AdamW
	sched  Schedule
	clip   float64
	dist   *Dist
	fused  *deviceGrads // the device-side gradient buffer when dist.Grads is set
}

func newLearner(m *policy.Model, d *Dist, sched Schedule, clip, weightDecay float64) (*learner, error) {
	flat := NewFlat(m.TrainableParams(), m.Device())
	if flat.N == 0 {
		return nil, fmt.Errorf("nothing to train: every parameter group is frozen")
	}
	l := &learner{model: m, flat: flat, params: make([]float32, flat.N), grads: make([]float32, flat.N),
		opt: NewAdamW(flat.N, 0.9, 0.999, 1e-8, weightDecay), sched: sched, clip: clip, dist: d}
	if err := flat.ReadParams(l.params); err != nil {
		return nil, err
	}
	if d.Grads != nil {
		var err error
		if l.fused, err = newDeviceGrads(flat.N, m.Device()); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// syncFromRank0 makes every rank start from rank 0's parameters and optimizer state (fresh
// initial weights, or the checkpoint rank 0 loaded).
func (l *learner) syncFromRank0() error {
	if l.dist.World() == 1 {
		return nil
	}
	for _, x := range [][]float32{l.params, l.opt.M, l.opt.V} {
		if err := l.dist.Broadcast(x); err != nil {
			return err
		}
	}
	step := []float32{float32(l.opt.Step)}
	if err := l.dist.Broadcast(step); err != nil {
		return err
	}
	l.opt.Step = int(step[0])
	return l.flat.WriteParams(l.params)
}

// update runs after backward: it returns the gradient norm before clipping and the learning
// rate used. A NaN or Inf gradient norm leaves the weights untouched and returns an error.
func (l *learner) update(step int) (gradNorm, lr float64, err error) {
	if l.fused != nil {
		if err := l.fused.reduce(l.flat, l.dist.Grads, l.dist, l.grads); err != nil {
			return 0, 0, err
		}
	} else {
		if err := l.flat.ReadGrads(l.grads); err != nil {
			return 0, 0, err
		}
		if err := l.dist.AverageGrads(l.grads); err != nil {
			return 0, 0, err
		}
	}
	gradNorm = ClipGradNorm(l.grads, l.clip)
	if math.IsNaN(gradNorm) || math.IsInf(gradNorm, 0) {
		return gradNorm, 0, fmt.Errorf("step %d: gradient norm is %v; stopping with the weights of the last good step", step, gradNorm)
	}
	lr = l.sched.At(l.opt.Step + 1)
	if err := l.opt.Update(l.params, l.grads, l.flat.Segments, lr); err != nil {
		return 0, 0, err
	}
	return gradNorm, lr, l.flat.WriteParams(l.params)
}

// close frees the fused gradient buffer.
func (l *learner) close() { l.fused.close() }

// restore loads a checkpoint's optimizer state (moments and step) into the learner.
func (l *learner) restore(opt *AdamW) {
	l.opt.M, l.opt.V, l.opt.Step = opt.M, opt.V, opt.Step
}
