package trainer

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
)

// step is one Unified-GRPO step on this rank's share of the global batch, in the order of the
// paper's Fig. 2: rollout -> reward -> advantages -> (objective -> backward -> sync -> update) x mu.
func (g *grpo) step(step int) (Record, error) {
	lo, hi := g.d.Share(g.cfg.Batch)
	ro, err := g.rollout(step, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("step %d: %w", step, err)
	}
	rw, err := g.reward(step, lo, ro)
	if err != nil {
		return nil, fmt.Errorf("step %d: reward: %w", step, err)
	}
	up, err := g.update(step, ro, rw)
	if err != nil {
		return nil, err
	}
	return g.metrics(step, ro, rw, up)
}

// rollout is a step's rollout: this rank's B images and G captions of each (N = B*G rows).
type rollout struct {
	imgs  []images.Planar
	roll  *policy.Rollout
	texts []string // [N] the captions as text, as the reward reads them
	// tokens is this rank's caption tokens (end tokens included), tokensAll the same over all
	// ranks: the token-mean normalisers of the objective and the metrics.
	tokens, tokensAll int
	time              time.Duration
}

// rollout samples G captions for each image of global indices [lo, hi), each row from its own
// stream keyed by its global index, so that the captions do not depend on the number of ranks.
func (g *grpo) rollout(step, lo, hi int) (*rollout, error) {
	c := g.cfg
	G := c.Group
	N := (hi - lo) * G
	t0 := time.Now()
	imgs, err := g.task.Source.Images(c.Seed, step, lo, hi)
	if err != nil {
		return nil, err
	}
	rngs := make([]*rand.Rand, N)
	for r := range rngs {
		rngs[r] = stream.RNG(c.Seed, stream.Sample, step, lo*G+r)
	}
	roll, err := g.l.model.Sample(imgs, G, policy.SampleOptions{Temperature: c.Temperature, TopK: c.TopK, MaxLen: c.MaxLen, MinLen: c.MinLen}, rngs)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	ro := &rollout{imgs: imgs, roll: roll, texts: make([]string, N), time: time.Since(t0)}
	for r := range ro.texts {
		ro.texts[r] = g.l.model.Text(eval.Words(roll, r))
	}
	return ro, nil
}

// rewarded is a step's reward and the advantages it gives.
type rewarded struct {
	rewards []float64   // [N] the mean similarity over the embedders
	parts   [][]float64 // [N][K] each embedder's similarity
	codes   [][]int     // [N][n] the codes drawn for each caption, with --joint (else nil)
	adv     []float64   // [N] the group-normalised advantages
	zeroStd int         // groups whose rewards were all equal
	time    time.Duration
}

// reward regenerates an image from each caption (its draws keyed by the row's global index) and
// compares it with its source under the embedders; the advantages normalise the rewards within
// each group of G. With --joint the policy draws the images itself and keeps its codes.
func (g *grpo) reward(step, lo int, ro *rollout) (*rewarded, error) {
	c := g.cfg
	G := c.Group
	N := len(ro.texts)
	t0 := time.Now()
	keys := stream.Keys(c.Seed, stream.Decode, step, lo*G, N)
	rw := &rewarded{}
	var err error
	switch {
	case g.drawer != nil:
		rw.rewards, rw.parts, rw.codes, err = g.drawer.DrawRewards(ro.imgs, G, ro.texts, keys)
	case g.hidden != nil && len(ro.roll.Hidden) == N:
		rw.rewards, rw.parts, err = g.hidden.RewardsWithHidden(ro.imgs, G, ro.texts, ro.roll.Hidden, keys)
	default:
		rw.rewards, rw.parts, err = g.task.Reward.Rewards(ro.imgs, G, ro.texts, keys)
	}
	if err != nil {
		return nil, err
	}
	rw.adv, rw.zeroStd = Advantages(rw.rewards, G, 1e-6, c.ScaleStd)
	rw.time = time.Since(t0)
	return rw, nil
}

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
	c := g.cfg
	G := c.Group
	N := len(ro.texts)
	for r := range ro.roll.Tokens {
		ro.tokens += ro.roll.Lengths[r]
	}
	tot, err := g.d.Sum([]float64{float64(ro.tokens)})
	if err != nil {
		return nil, err
	}
	ro.tokensAll = int(tot[0])
	opts := ObjectiveOptions{EpsLow: c.EpsLow, EpsHigh: c.EpsHigh, Beta: c.Beta, Agg: c.LossAgg,
		MaxLen: g.maxLen(), GlobalN: c.Batch * G, GlobalTokens: ro.tokensAll, World: g.d.World()}

	t0 := time.Now()
	var ref [][]float64
	if c.Beta > 0 {
		sc, err := g.ref.LogProbs(ro.imgs, G, ro.roll.Tokens, c.Temperature, false)
		if err != nil {
			return nil, fmt.Errorf("step %d: reference log-probs: %w", step, err)
		}
		ref, err = rows(sc.LogProbs, N, sc.T)
		sc.Drop()
		if err != nil {
			return nil, err
		}
	}
	up := &updated{}
	if g.drawer != nil {
		if up.draw, err = g.newDrawing(ro.texts, rw.codes, opts); err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
	}
	var old [][]float64
	for it := 0; it < c.Mu; it++ {
		if old, err = g.iterate(step, it, ro, rw, traj{ref: ref, old: old}, opts, up); err != nil {
			return nil, err
		}
	}
	up.time = time.Since(t0)
	return up, nil
}

// traj holds the fixed log-probs of a step's trajectories: the reference's (nil without a KL
// term) and the sampling policy's (nil before the first iteration).
type traj struct{ ref, old [][]float64 }

// iterate is one iteration of the update: the captions' log-probs under the current weights (the
// first iteration's are the sampling policy's: with mu = 1 the ratio is exactly 1), the objective
// and its backward (and the drawing half's), then the synchronised optimizer step. It returns the
// sampling policy's log-probs.
func (g *grpo) iterate(step, it int, ro *rollout, rw *rewarded, tr traj, opts ObjectiveOptions, up *updated) ([][]float64, error) {
	sc, err := g.l.model.LogProbs(ro.imgs, g.cfg.Group, ro.roll.Tokens, g.cfg.Temperature, it == 0)
	if err != nil {
		return nil, fmt.Errorf("step %d: log-probs: %w", step, err)
	}
	res, err := g.objective(it, ro, rw, tr, opts, up, sc)
	if err == nil && !finite(res.Loss) {
		err = fmt.Errorf("step %d: loss is %v", step, res.Loss)
	}
	if err == nil {
		if err = objectiveBackward(sc, res.Coef); err != nil {
			err = fmt.Errorf("step %d: backward: %w", step, err)
		}
	}
	sc.Drop() // before the drawing half and the optimizer, which need the memory
	if err != nil {
		return nil, err
	}
	tr.old = res.old
	if up.draw != nil {
		if err := up.draw.backward(it, rw.adv); err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
	}
	if up.gradNorm, up.lr, err = g.l.update(step); err != nil {
		return nil, err
	}
	return tr.old, nil
}

// iterResult is the objective of one iteration and the sampling policy's log-probs.
type iterResult struct {
	ObjectiveResult
	old [][]float64
}

// objective computes the GRPO objective of the scored captions sc; at the first iteration their
// log-probs are the sampling policy's, and their entropy is summed into up.
func (g *grpo) objective(it int, ro *rollout, rw *rewarded, tr traj, opts ObjectiveOptions, up *updated, sc *policy.Scores) (iterResult, error) {
	N := len(ro.texts)
	lp, err := rows(sc.LogProbs, N, sc.T)
	if err != nil {
		return iterResult{}, err
	}
	if it == 0 {
		tr.old = lp
		ent, err := rows(sc.Entropy, N, sc.T)
		if err != nil {
			return iterResult{}, err
		}
		for _, row := range ent {
			for _, e := range row {
				up.entropy += e
			}
		}
	}
	res, err := Objective(Trajectories{Len: ro.roll.Lengths, LogP: lp, Old: tr.old, Ref: tr.ref, Adv: rw.adv}, opts)
	if err != nil {
		return iterResult{}, err
	}
	if it == 0 {
		up.first = res
	}
	return iterResult{res, tr.old}, nil
}
