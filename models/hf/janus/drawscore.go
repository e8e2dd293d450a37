package janus

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// DrawCodes draws the codes of each prompt (BOS ... <begin_of_image>) with guidance, and each
// code's log-probability under the distribution it was drawn from (Model.SampleImageCodes).
func (p *Policy) DrawCodes(prompts [][]int, o ImageGenOptions, rngs []*rand.Rand) ([][]int, [][]float32, error) {
	return p.Model.SampleImageCodes(prompts, o, rngs)
}

// ScoreCodes scores drawn codes by teacher forcing, as guided generation drew them: row i is
// prompts[i] then codes[i] (n codes). The conditional rows and their unconditional twins run as
// one batch of 2N rows laid out as generation lays them (left-padded, the twins' text replaced by
// PAD), their generation_head logits are mixed as uncond + Scale (cond - uncond), and the result
// is log softmax(mixed / temperature) of each code [N, n] (temperature 1 when Greedy), with an
// autograd graph through both rows: the policy gradient of the drawing direction.
func (p *Policy) ScoreCodes(prompts [][]int, codes [][]int, o ImageGenOptions, withEntropy bool) (*policy.Scores, error) {
	m := p.Model
	c := m.cfg
	N, n := len(prompts), c.Vision.Tokens
	if N == 0 || len(codes) != N {
		return nil, fmt.Errorf("hf: janus code log-probs: %d prompts and %d rows of codes", N, len(codes))
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("hf: janus code log-probs: %w", err)
	}
	temp := o.Temperature
	if o.Greedy {
		temp = 1
	}
	T := 0
	for i, pr := range prompts {
		if len(pr) == 0 || pr[len(pr)-1] != c.BOI {
			return nil, fmt.Errorf("hf: janus code log-probs: prompt %d does not end with <begin_of_image> (%d)", i, c.BOI)
		}
		if len(codes[i]) != n {
			return nil, fmt.Errorf("hf: janus code log-probs: row %d has %d codes, not %d", i, len(codes[i]), n)
		}
		T = max(T, len(pr))
	}
	in := m.guidedBatch(prompts, T)
	for r := range in.IDs {
		b := r % N
		next := len(prompts[b])
		for j, code := range codes[b] {
			in.IDs[r] = append(in.IDs[r], 0)
			in.Codes[r] = append(in.Codes[r], code)
			in.Pos[r] = append(in.Pos[r], next+j)
			in.Mask[r] = append(in.Mask[r], 1)
		}
	}
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	h, err := m.forward(a, in, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("hf: janus code log-probs: %w", err)
	}
	// The head runs over the positions that predict the codes only (n of T+n).
	sp := hf.ScoredSpan(T, n)
	lg := m.imageLogits(a, a.Narrow(h, 1, int64(sp.From), int64(sp.Len))) // [2N, n, K]
	cond, uncond := a.Narrow(lg, 0, 0, int64(N)), a.Narrow(lg, 0, int64(N), int64(N))
	mixed := a.Add(uncond, a.MulScalar(a.Sub(cond, uncond), o.Scale))
	return hf.CaptionScores(a, mixed, n, codes, temp, withEntropy)
}
