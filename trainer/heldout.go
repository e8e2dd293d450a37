package trainer

import (
	"fmt"

	"github.com/unigrpo/unigrpo/eval"
)

// evaluates reports whether the loop has a held-out set to evaluate.
func (lp *loop) evaluates() bool { return lp.held != nil && len(lp.held.Images) > 0 }

// evaluate captions the held-out images greedily and scores them with the run's reward (and
// judge, where the images have labels); a policy that is an eval.Prober adds its probes (a
// unified model's question answering and drawing). The images are split over the ranks: each
// captions and scores its part, and every rank assembles the same result from the gathered rows.
func (lp *loop) evaluate() (*eval.Result, error) {
	n := len(lp.held.Images)
	lo, hi := splitRange(n, lp.d.Rank(), lp.d.World())
	caps, err := eval.Captions(lp.l.model, lp.held.Images[lo:hi], eval.SampleOptions{})
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(caps))
	for i, c := range caps {
		texts[i] = c.Text
	}
	overall, parts, err := eval.Rewards(lp.reward, lp.held.Images[lo:hi], texts, lp.evalSeed, lo)
	if err != nil {
		return nil, fmt.Errorf("held-out reward: %w", err)
	}
	rows := make([][]float64, len(caps))
	for i, c := range caps {
		rows[i] = append([]float64{overall[i], float64(c.Length)}, parts[i]...)
	}
	if rows, err = lp.d.gatherRows(rows, n, 2+len(lp.reward.Embedders())); err != nil {
		return nil, fmt.Errorf("held-out evaluation: %w", err)
	}
	if texts, err = lp.d.gatherTexts(texts, n); err != nil {
		return nil, fmt.Errorf("held-out evaluation: %w", err)
	}
	caps, overall, parts = make([]eval.Caption, n), make([]float64, n), make([][]float64, n)
	for i, row := range rows {
		caps[i] = eval.Caption{Text: texts[i], Length: int(row[1])}
		overall[i], parts[i] = row[0], row[2:]
	}
	r, err := eval.Assemble("policy", lp.reward.Embedders(), lp.judge, lp.held.Labels, caps, overall, parts)
	if err != nil {
		return nil, err
	}
	if pr, ok := lp.l.model.(eval.Prober); ok && lp.held.Labels != nil {
		probes, err := pr.Probe(lp.held, lp.evalSeed)
		if err != nil {
			return nil, err
		}
		if r.Understanding == nil {
			r.Understanding = map[string]float64{}
		}
		for k, v := range probes {
			r.Understanding[k] = v
		}
	}
	return r, nil
}

// evalFields are the held-out results of greedy captions, under the names of eval.json (and,
// prefixed with eval_, of metrics.jsonl): the reward, the caption length and the judge's metrics.
func (lp *loop) evalFields(r *eval.Result) map[string]float64 {
	out := map[string]float64{"reward": r.Overall, "length": r.LengthMean}
	if r.Understanding != nil {
		for k, v := range r.Understanding {
			out[k] = v // the judge's metrics and the policy's probes
		}
	}
	return out
}

// addEval puts held-out results into a metrics record under eval_ keys.
func (lp *loop) addEval(rec Record, r *eval.Result) {
	for k, v := range lp.evalFields(r) {
		rec["eval_"+k] = v
	}
}

// evalSummary is eval.json: the metrics of greedy captions on the held-out images.
func (lp *loop) evalSummary(r *eval.Result) map[string]any {
	out := map[string]any{"scenes": 0}
	if r == nil {
		return out
	}
	out["scenes"] = len(lp.held.Images)
	for k, v := range lp.evalFields(r) {
		out[k] = v
	}
	out["length_mean"], out["embedders"] = r.LengthMean, r.Embedders
	return out
}
