package trainer

// The few tensor operations the loops run with gotch's ts.Tensor API: scaling a loss before
// backward, back-propagating the GRPO coefficients, and copying [N, T] results to the host.

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/models/policy"
)

// scaledBackward back-propagates x*s for a scalar tensor x, freeing what it creates.
func scaledBackward(x *ts.Tensor, s float64) error {
	sc := ts.FloatScalar(s)
	defer sc.MustDrop()
	y, err := x.MulScalar(sc, false)
	if err != nil {
		return err
	}
	defer y.MustDrop()
	return y.Backward()
}

// weightedBackward back-propagates sum(x * w) for x [N, T] and host weights w (row-major N*T).
func weightedBackward(x *ts.Tensor, w []float32, N, T int) error {
	wt, err := ts.OfSlice(w)
	if err != nil {
		return err
	}
	defer wt.MustDrop()
	w2, err := wt.View([]int64{int64(N), int64(T)}, false)
	if err != nil {
		return err
	}
	defer w2.MustDrop()
	if dev := x.MustDevice(); dev != gotch.CPU {
		moved, err := w2.ToDevice(dev, gotch.Float, false, false, false)
		if err != nil {
			return err
		}
		defer moved.MustDrop()
		w2 = moved
	}
	prod, err := x.Mul(w2, false)
	if err != nil {
		return err
	}
	defer prod.MustDrop()
	s, err := prod.Sum(gotch.Float, false)
	if err != nil {
		return err
	}
	defer s.MustDrop()
	return s.Backward()
}

// objectiveBackward back-propagates the GRPO objective through the scores' log-probs [N, T]:
// sum(logp * coef) with coef [N][<=T] its derivative (ObjectiveResult.Coef), 0 past each row's
// end; then completes the backward where the scores ask it to (Scores.Finish: the recompute pass
// of activation checkpointing).
func objectiveBackward(sc *policy.Scores, coef [][]float64) error {
	N, T := len(coef), sc.T
	w := make([]float32, N*T)
	for i, row := range coef {
		for t, v := range row {
			w[i*T+t] = float32(v)
		}
	}
	if err := weightedBackward(sc.LogProbs, w, N, T); err != nil {
		return err
	}
	if sc.Finish != nil {
		if err := sc.Finish(); err != nil {
			return fmt.Errorf("completing the backward: %w", err)
		}
	}
	return nil
}

// rows copies an [N, T] float32 tensor into N rows of float64.
func rows(x *ts.Tensor, N, T int) ([][]float64, error) {
	flat := make([]float32, N*T)
	if N*T > 0 {
		if err := x.CopyData(flat, uint(N*T)); err != nil {
			return nil, err
		}
	}
	out := make([][]float64, N)
	for i := range out {
		out[i] = make([]float64, T)
		for t := 0; t < T; t++ {
			out[i][t] = float64(flat[i*T+t])
		}
	}
	return out, nil
}
