package trainer

import (
	"fmt"
)

// drawing is the drawing half of the joint objective (GRPOConfig.Joint) in one step. A unified
// model's trajectory is its caption and then the n image codes it drew from that caption for the
// reward; both halves share the trajectory's advantage. The objective is the caption's GRPO
// objective plus the codes', each aggregated over its own tokens (--loss-agg), so that the
// caption's gradient keeps its scale whatever the image grid (64 codes here, 576 in Janus-Pro),
// and the KL reference of both is the frozen initial model.
type drawing struct {
	pol   Drawer
	texts []string    // [N] the captions, as the reward read them
	codes [][]int     // [N][n] the codes drawn for them
	lens  []int       // [N] n each
	ref   [][]float64 // [N][n] the reference's log-probs (nil when Beta is 0)
	old   [][]float64 // [N][n] the log-probs of the model that drew them (the first iteration's)
	opts  ObjectiveOptions
	// first is the objective at the first iteration, entropy the codes' summed entropy there.
	first   ObjectiveResult
	entropy float64
}

// newDrawing prepares the drawing half for the codes the reward drew (texts their prompts, a
// caption repeated for each of its drawings); opts are the caption half's options, whose
// trajectory and token counts and Dr. GRPO length it replaces with the drawings'.
func (g *grpo) newDrawing(texts []string, codes [][]int, opts ObjectiveOptions) (*drawing, error) {
	N := len(codes)
	if N == 0 || N != len(texts) {
		return nil, fmt.Errorf("joint objective: %d rows of codes for %d captions", N, len(texts))
	}
	n := len(codes[0])
	d := &drawing{pol: g.drawer, texts: texts, codes: codes, lens: make([]int, N), opts: opts}
	for i, row := range codes {
		if len(row) != n {
			return nil, fmt.Errorf("joint objective: drawings of %d and %d codes", n, len(row))
		}
		d.lens[i] = n
	}
	// K drawings per caption (GRPOConfig.DrawSamples): the drawings of all ranks number GlobalN*K.
	d.opts.GlobalN *= max(g.cfg.DrawSamples, 1)
	d.opts.MaxLen, d.opts.GlobalTokens = n, d.opts.GlobalN*n
	if opts.Beta > 0 {
		sc, err := g.refDrawer.CodeLogProbs(texts, codes, false)
		if err != nil {
			return nil, fmt.Errorf("reference log-probs of the drawings: %w", err)
		}
		d.ref, err = rows(sc.LogProbs, N, sc.T)
		sc.Drop()
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// backward scores the codes under the current weights and adds the gradient of the drawing
// objective to the parameters' (iteration it of the step's mu; the first records the log-probs
// of the model that drew them, and their entropy).
func (d *drawing) backward(it int, adv []float64) error {
	N := len(d.codes)
	sc, err := d.pol.CodeLogProbs(d.texts, d.codes, it == 0)
	if err != nil {
		return fmt.Errorf("log-probs of the drawings: %w", err)
	}
	defer sc.Drop()
	lp, err := rows(sc.LogProbs, N, sc.T)
	if err != nil {
		return err
	}
	if it == 0 {
		d.old = lp
		ent, err := rows(sc.Entropy, N, sc.T)
		if err != nil {
			return err
		}
		for _, row := range ent {
			for _, e := range row {
				d.entropy += e
			}
		}
	}
	res, err := Objective(Trajectories{Len: d.lens, LogP: lp, Old: d.old, Ref: d.ref, Adv: adv}, d.opts)
	if err != nil {
		return fmt.Errorf("drawing objective: %w", err)
	}
	if !finite(res.Loss) {
		return fmt.Errorf("drawing loss is %v", res.Loss)
	}
	if it == 0 {
		d.first = res
	}
	if err := objectiveBackward(sc, res.Coef); err != nil {
		return fmt.Errorf("backward of the drawing objective: %w", err)
	}
	return nil
}

// tally adds the drawing half's sums to the step's metrics.
func (d *drawing) tally(t *tally) {
	tf := float64(d.first.Tokens)
	t.sum("draw_loss", d.first.Loss)
	t.sum("draw_kl", d.first.KL*tf)
	t.sum("draw_clip_low", d.first.ClipLow*tf)
	t.sum("draw_clip_high", d.first.ClipHigh*tf)
	t.sum("draw_entropy", d.entropy)
	t.sum("draw_tokens", tf)
}

// drawRecord writes the drawing half's metrics from the reduced sums m (world ranks): draw_loss is
// the drawing objective (a part of loss), the rest are means over the drawn codes.
func drawRecord(rec Record, m map[string]float64, world int) {
	n := m["draw_tokens"]
	rec["draw_loss"] = m["draw_loss"] / float64(world)
	rec["draw_kl"], rec["draw_entropy"] = m["draw_kl"]/n, m["draw_entropy"]/n
	rec["draw_clip_low"], rec["draw_clip_high"] = m["draw_clip_low"]/n, m["draw_clip_high"]/n
	rec["draw_tokens"] = n
	rec["loss"] += rec["draw_loss"]
}
