package trainer

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/stream"
)

// Several drawings per caption (GRPOConfig.DrawSamples = K > 1, with --joint): the policy draws
// each of a group's G captions K times. The caption is rewarded with the mean reward of its K
// drawings and its advantage is normalised within the group of G as ever; each drawing's
// advantage is normalised within its caption's K, so that the drawing half of the joint objective
// learns which drawing of a caption is better rather than which caption is. With K = 1 both are
// the caption's group advantage (the joint objective of one drawing per caption).

// drawAdvantages splits the rewards of N*K drawings (caption i's drawings at i*K..i*K+K-1, the
// captions in groups of G) into the captions' rewards (the mean of each caption's K), the
// captions' advantages within their groups of G, and the drawings' advantages within their
// caption's K (the captions' advantages when K is 1). zeroStd counts the groups of G captions
// whose rewards were all equal.
func drawAdvantages(draws []float64, G, K int, eps float64, scale bool) (caps, capAdv, drawAdv []float64, zeroStd int) {
	if K <= 1 {
		capAdv, zeroStd = Advantages(draws, G, eps, scale)
		return draws, capAdv, capAdv, zeroStd
	}
	caps = make([]float64, len(draws)/K)
	for i := range caps {
		for _, r := range draws[i*K : i*K+K] {
			caps[i] += r
		}
		caps[i] /= float64(K)
	}
	capAdv, zeroStd = Advantages(caps, G, eps, scale)
	drawAdv, _ = Advantages(draws, K, eps, scale)
	return caps, capAdv, drawAdv, zeroStd
}

// meanParts averages each caption's K rows of embedder parts (N*K rows -> N).
func meanParts(parts [][]float64, K int) [][]float64 {
	if K <= 1 {
		return parts
	}
	out := make([][]float64, len(parts)/K)
	for i := range out {
		out[i] = make([]float64, len(parts[i*K]))
		for _, p := range parts[i*K : i*K+K] {
			for e, x := range p {
				out[i][e] += x / float64(K)
			}
		}
	}
	return out
}

// repeatEach repeats each caption K times (the drawings' prompts, row i*K+j for caption i).
func repeatEach(texts []string, K int) []string {
	if K <= 1 {
		return texts
	}
	out := make([]string, 0, len(texts)*K)
	for _, s := range texts {
		for range K {
			out = append(out, s)
		}
	}
	return out
}

// drawSpread is how a step's rewards vary with the drawing, from N*K rewards (K > 1) in groups
// of G captions: sums over this rank, to be reduced over ranks (tallied by drawSpreadTally).
//   - within: the sum over captions of the variance of the reward across the caption's K drawings
//     (unbiased), and captions their count;
//   - between: the sum over groups of the variance across the G captions of their mean reward, and
//     groups their count;
//   - the sums of a correlation, over every drawing (i, j), between the advantage that a group of
//     one drawing per caption would give it (its caption's group advantage, the rewards of the
//     group's j-th drawings normalised over G, as with K = 1) and the drawing's own deviation from
//     its caption's mean reward: n, sx, sy, sxx, syy, sxy.
type drawSpread struct {
	within, captions, between, groups float64
	n, sx, sy, sxx, syy, sxy          float64
}

// spreadOf measures drawSpread for N*K rewards in groups of G captions.
func spreadOf(draws []float64, G, K int, eps float64, scale bool) drawSpread {
	var s drawSpread
	N := len(draws) / K
	caps := make([]float64, N)
	for i := range caps {
		row := draws[i*K : i*K+K]
		m := mean(row)
		caps[i] = m
		s.within += variance(row, m)
		s.captions++
	}
	for g0 := 0; g0+G <= N; g0 += G {
		s.between += variance(caps[g0:g0+G], mean(caps[g0:g0+G]))
		s.groups++
	}
	slice := make([]float64, G)
	for g0 := 0; g0+G <= N; g0 += G {
		for j := range K {
			for i := range G {
				slice[i] = draws[(g0+i)*K+j]
			}
			adv, _ := Advantages(slice, G, eps, scale)
			for i := range G {
				x, y := adv[i], draws[(g0+i)*K+j]-caps[g0+i]
				s.n++
				s.sx, s.sy, s.sxx, s.syy, s.sxy = s.sx+x, s.sy+y, s.sxx+x*x, s.syy+y*y, s.sxy+x*y
			}
		}
	}
	return s
}

// correlation is Pearson's r from drawSpread's sums (0 when either side does not vary).
func (s drawSpread) correlation() float64 {
	cov := s.sxy/s.n - s.sx/s.n*s.sy/s.n
	vx, vy := s.sxx/s.n-s.sx*s.sx/(s.n*s.n), s.syy/s.n-s.sy*s.sy/(s.n*s.n)
	if !(vx > 0 && vy > 0) {
		return 0
	}
	return cov / math.Sqrt(vx*vy)
}

var spreadNames = [...]string{"within", "captions", "between", "groups", "n", "sx", "sy", "sxx", "syy", "sxy"}

// tally adds the sums under draw_spread:<name>.
func (s drawSpread) tally(t *tally) {
	for i, v := range [...]float64{s.within, s.captions, s.between, s.groups, s.n, s.sx, s.sy, s.sxx, s.syy, s.sxy} {
		t.sum("draw_spread:"+spreadNames[i], v)
	}
}

// spreadRecord writes the reduced drawSpread: draw_reward_var_within (the reward's variance
// across a caption's drawings, mean over captions), draw_reward_var_between (the variance of the
// captions' mean rewards across a group, mean over groups) and draw_adv_corr (the correlation
// between a drawing's one-drawing group advantage and its deviation from its caption's mean).
func spreadRecord(rec Record, m map[string]float64) {
	v := func(name string) float64 { return m["draw_spread:"+name] }
	s := drawSpread{n: v("n"), sx: v("sx"), sy: v("sy"), sxx: v("sxx"), syy: v("syy"), sxy: v("sxy")}
	rec["draw_reward_var_within"] = v("within") / v("captions")
	rec["draw_reward_var_between"] = v("between") / v("groups")
	rec["draw_adv_corr"] = s.correlation()
}

// mean is the mean of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// variance is the unbiased variance of xs about m.
func variance(xs []float64, m float64) float64 {
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return ss / float64(len(xs)-1)
}

// drawRewards has the policy draw each caption K = GRPOConfig.DrawSamples times (drawing j of
// row r keyed by the global drawing index (lo*G + r)*K + j: with K = 1 the caption's own key) and
// fills rw with the captions' rewards, parts and advantages and the drawings' codes, prompts and
// advantages (drawAdvantages).
func (g *grpo) drawRewards(step, lo int, ro *rollout, rw *rewarded) error {
	c := g.cfg
	G, K := c.Group, max(c.DrawSamples, 1)
	texts := repeatEach(ro.texts, K)
	keys := stream.Keys(c.Seed, stream.Decode, step, lo*G*K, len(texts))
	draws, parts, codes, err := g.drawer.DrawRewards(ro.imgs, G*K, texts, keys)
	if err != nil {
		return err
	}
	if len(draws) != len(texts) || len(parts) != len(texts) {
		return fmt.Errorf("unified reward: %d rewards and %d parts for %d drawings", len(draws), len(parts), len(texts))
	}
	rw.rewards, rw.adv, rw.drawAdv, rw.zeroStd = drawAdvantages(draws, G, K, 1e-6, c.ScaleStd)
	rw.parts, rw.codes, rw.drawTexts = meanParts(parts, K), codes, texts
	if K > 1 {
		s := spreadOf(draws, G, K, 1e-6, c.ScaleStd)
		rw.spread = &s
	}
	return nil
}
