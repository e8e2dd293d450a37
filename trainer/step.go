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
	var pend *pendingRewards // the rewards asked for during the rollout (overlap.go)
	if g.overlaps() {
		pend = g.newPendingRewards(step, lo, hi-lo)
	}
	ro, err := g.rollout(step, lo, hi, pend)
	if err != nil {
		if pend != nil {
			pend.wait() // no call outlives its step
		}
		return nil, fmt.Errorf("step %d: %w", step, err)
	}
	var rw *rewarded
	if pend != nil {
		rw, err = pend.wait()
	} else {
		rw, err = g.reward(step, lo, ro)
	}
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
// With pend, the rewards of each chunk of images are asked for as soon as it is sampled.
func (g *grpo) rollout(step, lo, hi int, pend *pendingRewards) (*rollout, error) {
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
	// Sampled R images (R*G rows) at a time; each row draws from its own stream, so the captions
	// do not depend on R.
	R := c.RolloutBatch
	if R <= 0 {
		R = len(imgs)
	}
	opt := policy.SampleOptions{Temperature: c.Temperature, TopK: c.TopK, TopP: c.TopP, MaxLen: c.MaxLen, MinLen: c.MinLen}
	roll := &policy.Rollout{}
	texts := make([]string, N)
	for b := 0; b < len(imgs); b += R {
		e := min(b+R, len(imgs))
		part, err := g.l.model.Sample(imgs[b:e], G, opt, rngs[b*G:e*G])
		if err != nil {
			return nil, fmt.Errorf("rollout of images %d-%d: %w", lo+b, lo+e-1, err)
		}
		appendRollout(roll, part)
		for r := b * G; r < e*G; r++ {
			texts[r] = g.l.model.Text(eval.Words(roll, r))
		}
		if pend != nil {
			var hidden [][]float32
			if len(part.Hidden) == (e-b)*G {
				hidden = part.Hidden
			}
			pend.start(imgs[b:e], b, e, texts[b*G:e*G], hidden)
		}
	}
	return &rollout{imgs: imgs, roll: roll, texts: texts, time: time.Since(t0)}, nil
}

// rewarded is a step's reward and the advantages it gives.
type rewarded struct {
	rewards []float64   // [N] the mean similarity over the embedders
	parts   [][]float64 // [N][K] each embedder's similarity
	codes   [][]int     // [N*K][n] the codes drawn for each caption, with --joint (else nil)
	adv     []float64   // [N] the group-normalised advantages
	// The drawings, with a drawing policy (K = GRPOConfig.DrawSamples per caption): their
	// prompts [N*K], their advantages within their caption's K [N*K] (adv when K is 1) and, when
	// K > 1, how the reward varies with the drawing (nil otherwise).
	drawTexts []string
	drawAdv   []float64
	spread    *drawSpread
	zeroStd   int // groups whose rewards were all equal
	// time is the reward's cost to the step: the wait after the rollout (with --reward-overlap the
	// calls started during it); busy is the time during which a call was running.
	time, busy time.Duration
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
		err = g.drawRewards(step, lo, ro, rw)
	case g.hidden != nil && len(ro.roll.Hidden) == N:
		rw.rewards, rw.parts, err = g.hidden.RewardsWithHidden(ro.imgs, G, ro.texts, ro.roll.Hidden, keys)
	default:
		rw.rewards, rw.parts, err = g.task.Reward.Rewards(ro.imgs, G, ro.texts, keys)
	}
	if err != nil {
		return nil, err
	}
	if rw.adv == nil {
		rw.adv, rw.zeroStd = Advantages(rw.rewards, G, 1e-6, c.ScaleStd)
	}
	rw.time = time.Since(t0)
	rw.busy = rw.time
	return rw, nil
}
