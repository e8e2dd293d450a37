package trainer

import (
	"fmt"
	"time"

	"github.com/unigrpo/unigrpo/models/policy"
)

// updated is what the update reports: the objective at its first iteration (the sampling
// policy's), the captions' summed entropy there, and the optimizer's last step.
type updated struct {
	first        ObjectiveResult
	entropy      float64
	gradNorm, lr float64
	draw         *drawing // the drawing half of the joint objective (nil without --joint)
	time         time.Duration
}

// update counts the tokens over all ranks (the loss normalisers), scores the captions under the
// reference, then runs mu iterations of objective -> backward -> sync -> update.
func (g *grpo) update(step int, ro *rollout, rw *rewarded) (*updated, error) {
	if err := g.countTokens(ro); err != nil {
		return nil, err
	}
	t0 := time.Now()
	tr, opts, up, err := g.prepare(step, ro, rw)
	if err != nil {
		return nil, err
	}
	for it := 0; it < g.cfg.Mu; it++ {
		if tr.old, err = g.iterate(step, it, ro, rw, tr, opts, up); err != nil {
			return nil, err
		}
	}
	up.time = time.Since(t0)
	return up, nil
}

// countTokens counts the caption tokens of this rank and of all ranks (the loss normalisers).
func (g *grpo) countTokens(ro *rollout) error {
	ro.tokens = 0
	for r := range ro.roll.Tokens {
		ro.tokens += ro.roll.Lengths[r]
	}
	tot, err := g.d.Sum([]float64{float64(ro.tokens)})
	if err != nil {
		return err
	}
	ro.tokensAll = int(tot[0])
	return nil
}

// prepare is what the update's iterations share (after countTokens): the objective's options, the
// reference's log-probs and the drawing half of the joint objective.
func (g *grpo) prepare(step int, ro *rollout, rw *rewarded) (traj, ObjectiveOptions, *updated, error) {
	c := g.cfg
	var err error
	opts := ObjectiveOptions{EpsLow: c.EpsLow, EpsHigh: c.EpsHigh, Beta: c.Beta, Agg: c.LossAgg,
		MaxLen: g.maxLen(), GlobalN: c.Batch * c.Group, GlobalTokens: ro.tokensAll, World: g.d.World()}
	var tr traj
	if c.Beta > 0 {
		if tr.ref, err = g.refLogProbs(ro); err != nil {
			return traj{}, opts, nil, fmt.Errorf("step %d: reference log-probs: %w", step, err)
		}
	}
	up := &updated{}
	if g.drawer != nil {
		// The drawing half of the joint objective runs over the whole batch at once: micro-batches
		// split the captions' passes only.
		if up.draw, err = g.newDrawing(rw.drawTexts, rw.codes, opts); err != nil {
			return traj{}, opts, nil, fmt.Errorf("step %d: %w", step, err)
		}
	}
	return tr, opts, up, nil
}

// refLogProbs scores the captions under the frozen reference, in the update's micro-batches
// (without a graph: its weights do not train).
func (g *grpo) refLogProbs(ro *rollout) ([][]float64, error) {
	ref := make([][]float64, 0, len(ro.texts))
	for _, mb := range microBatches(len(ro.imgs), g.cfg.Group, g.cfg.MicroBatch) {
		sc, err := g.ref.LogProbs(ro.imgs[mb.img0:mb.img1], mb.g, ro.roll.Tokens[mb.lo:mb.hi], g.cfg.Temperature, false)
		if err != nil {
			return nil, err
		}
		lp, err := hostRows(sc, mb.hi-mb.lo, nil)
		sc.Drop()
		if err != nil {
			return nil, err
		}
		ref = append(ref, lp...)
	}
	return ref, nil
}

// traj holds the fixed log-probs of a step's trajectories: the reference's (nil without a KL
// term) and the sampling policy's (nil before the first iteration).
type traj struct{ ref, old [][]float64 }

// iterate is one iteration of the update: the captions' objective and its gradient (backward), the
// drawing half's, then the synchronised optimizer step. It returns the sampling policy's
// log-probs.
func (g *grpo) iterate(step, it int, ro *rollout, rw *rewarded, tr traj, opts ObjectiveOptions, up *updated) ([][]float64, error) {
	old, _, err := g.backward(step, it, ro, rw, tr, opts, up)
	if err != nil {
		return nil, err
	}
	if up.draw != nil {
		if err := up.draw.backward(it, rw.drawAdv); err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
	}
	if up.gradNorm, up.lr, err = g.l.update(step); err != nil {
		return nil, err
	}
	return old, nil
}

// backward computes the captions' log-probs under the current weights (at the first iteration
// they are the sampling policy's: with mu = 1 the ratio is exactly 1), the GRPO objective and its
// backward, over the step's rows GRPOConfig.MicroBatch at a time, so that only one micro-batch's
// activations are alive at once. libtorch adds each backward's gradients into the parameters'
// .grad until the optimizer takes them out (Flat.ReadGrads and deviceGrads.pack zero them), and a
// row's coefficients depend only on the row and the global normalisers, so the gradient is the
// full batch's; objectiveSums adds the rows in the full batch's order, so the objective at the
// first iteration (up.first) and the entropy are the full batch's too. It returns the sampling
// policy's log-probs and the iteration's objective (without coefficients).
func (g *grpo) backward(step, it int, ro *rollout, rw *rewarded, tr traj, opts ObjectiveOptions, up *updated) ([][]float64, ObjectiveResult, error) {
	var sums objectiveSums
	old := tr.old
	if it == 0 {
		old = make([][]float64, 0, len(ro.texts))
	}
	for _, mb := range microBatches(len(ro.imgs), g.cfg.Group, g.cfg.MicroBatch) {
		var ent *float64
		if it == 0 {
			ent = &up.entropy
		}
		sc, err := g.l.model.LogProbs(ro.imgs[mb.img0:mb.img1], mb.g, ro.roll.Tokens[mb.lo:mb.hi], g.cfg.Temperature, it == 0)
		if err != nil {
			return nil, ObjectiveResult{}, fmt.Errorf("step %d: log-probs of rows %d-%d: %w", step, mb.lo, mb.hi-1, err)
		}
		lp, err := hostRows(sc, mb.hi-mb.lo, ent)
		if err == nil {
			if it == 0 {
				old = append(old, lp...)
			}
			err = g.microObjective(step, mb, ro, rw, traj{ref: tr.ref, old: old}, lp, opts, &sums, sc)
		}
		sc.Drop() // before the next micro-batch, the drawing half and the optimizer
		if err != nil {
			return nil, ObjectiveResult{}, err
		}
	}
	res := sums.result()
	if it == 0 {
		up.first = res
	}
	return old, res, nil
}

// microObjective adds the rows of micro-batch mb (their log-probs lp, copied from sc) to the
// objective's sums and back-propagates their share of the loss through sc.LogProbs.
func (g *grpo) microObjective(step int, mb microBatch, ro *rollout, rw *rewarded, tr traj, lp [][]float64, opts ObjectiveOptions, sums *objectiveSums, sc *policy.Scores) error {
	var ref [][]float64
	if tr.ref != nil {
		ref = tr.ref[mb.lo:mb.hi]
	}
	coef, err := sums.add(Trajectories{Len: ro.roll.Lengths[mb.lo:mb.hi], LogP: lp, Old: tr.old[mb.lo:mb.hi], Ref: ref, Adv: rw.adv[mb.lo:mb.hi]}, opts)
	if err != nil {
		return fmt.Errorf("step %d: %w", step, err)
	}
	if !finite(sums.loss) {
		return fmt.Errorf("step %d: loss is %v", step, sums.loss)
	}
	if err := objectiveBackward(sc, coef); err != nil {
		return fmt.Errorf("step %d: backward: %w", step, err)
	}
	return nil
}
