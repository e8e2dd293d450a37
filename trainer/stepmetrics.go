package trainer

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/eval"
)

// metrics collects the step's metrics over all ranks: this rank's sums and extremes by name,
// reduced with one collective call for each kind, then token-weighted means from the sums.
func (g *grpo) metrics(step int, ro *rollout, rw *rewarded, up *updated) (Record, error) {
	t := g.tally(ro, rw, up)
	m, err := t.reduce(g.d)
	if err != nil {
		return nil, err
	}
	n := m["samples"]
	T := float64(ro.tokensAll) // the caption tokens of the step over all ranks
	mean := m["reward_sum"] / n
	rec := Record{
		"step": float64(step), "reward_mean": mean, "reward_std": math.Sqrt(math.Max(0, m["reward_sq"]/n-mean*mean)),
		"reward_min": m["reward_min"], "reward_max": m["reward_max"], "frac_zero_std": m["zero_std"] / (n / float64(g.cfg.Group)),
		"length_mean": m["words"] / n, "length_min": m["length_min"], "length_max": m["length_max"], "clipped_ratio": m["truncated"] / n,
		"kl": m["kl"] / T, "clip_low": m["clip_low"] / T, "clip_high": m["clip_high"] / T, "entropy": m["entropy"] / T,
		"loss": m["loss"] / float64(g.d.World()), "grad_norm": up.gradNorm, "lr": up.lr, "tokens": T, "samples": n,
		"rollout_time": ro.time.Seconds(), "reward_time": rw.time.Seconds(), "update_time": up.time.Seconds(),
		// captions scored per second of reward time, over all ranks (the slowest rank's time)
		"reward_captions_per_s": n / m["reward_time"],
		"reward_busy_time":      m["reward_busy_time"],
	}
	serviceRecord(rec, m, g.services)
	for k, name := range g.embedders {
		key := "reward_" + name // the mean similarity under one embedder
		if _, taken := rec[key]; taken {
			key = "reward_embedder_" + name
		}
		rec[key] = m[fmt.Sprintf("embedder:%d", k)] / n
	}
	if up.draw != nil {
		drawRecord(rec, m, g.d.World())
	}
	if rw.spread != nil {
		spreadRecord(rec, m)
	}
	if v, ok := m["images_skipped"]; ok {
		rec["images_skipped"] = v
	}
	return rec, nil
}

// tally adds this rank's share of the step's metrics, in the same names and order on every rank.
// The extremes (length_min/max, reward_min/max) are added once per caption under one name and
// fold into the extreme of all of this rank's captions, then of all ranks'.
func (g *grpo) tally(ro *rollout, rw *rewarded, up *updated) *tally {
	t := &tally{}
	roll := ro.roll
	words, truncated := 0, 0
	for r := range roll.Tokens {
		n := float64(len(eval.Words(roll, r)))
		words += int(n)
		t.max("length_max", n)
		t.min("length_min", n)
		if roll.Truncated[r] {
			truncated++
		}
	}
	rsum, rsq := 0.0, 0.0
	for _, r := range rw.rewards {
		rsum, rsq = rsum+r, rsq+r*r
		t.max("reward_max", r)
		t.min("reward_min", r)
	}
	for k := range g.embedders { // by index: two embedders may share a name
		s := 0.0
		for _, p := range rw.parts {
			s += p[k]
		}
		t.sum(fmt.Sprintf("embedder:%d", k), s)
	}
	tf := float64(ro.tokens)
	t.sum("reward_sum", rsum)
	t.sum("reward_sq", rsq)
	t.sum("zero_std", float64(rw.zeroStd))
	t.sum("words", float64(words))
	t.sum("truncated", float64(truncated))
	t.sum("kl", up.first.KL*tf)
	t.sum("clip_low", up.first.ClipLow*tf)
	t.sum("clip_high", up.first.ClipHigh*tf)
	t.sum("entropy", up.entropy)
	t.sum("loss", up.first.Loss)
	t.sum("samples", float64(len(ro.texts)))
	t.max("reward_time", rw.time.Seconds())
	t.max("reward_busy_time", rw.busy.Seconds())
	if g.services != nil {
		tallyServices(t, g.services.Stats())
	}
	if up.draw != nil {
		up.draw.tally(t)
	}
	if rw.spread != nil {
		rw.spread.tally(t)
	}
	if g.skips != nil {
		t.sum("images_skipped", float64(g.skips.TakeSkipped()))
	}
	return t
}
