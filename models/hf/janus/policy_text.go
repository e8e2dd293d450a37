package janus

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// SampleText draws G continuations of prompt (which holds the P placeholders of one image) for
// every image; row b*G+g shows image b and samples with rngs[b*G+g] (nil when greedy).
func (p *Policy) SampleText(imgs []images.Planar, G int, prompt []int, maxLen int, stop []int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	of := make([]int, len(imgs)*G)
	prompts := make([][]int, len(of))
	for r := range of {
		of[r], prompts[r] = r/G, prompt
	}
	return p.continueRows(imgs, of, prompts, maxLen, stop, opt, rngs)
}

// Continue continues prompts[i], which shows imgs[i], at most maxLen tokens each.
func (p *Policy) Continue(imgs []images.Planar, prompts [][]int, maxLen int, stop []int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	of := make([]int, len(prompts))
	for i := range of {
		of[i] = i
	}
	return p.continueRows(imgs, of, prompts, maxLen, stop, opt, rngs)
}

// continueRows samples continuations of prompts, row r showing image of[r] (Model.continueText).
func (p *Policy) continueRows(imgs []images.Planar, of []int, prompts [][]int, maxLen int, stop []int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	s, err := hf.NewSampler(len(prompts), maxLen, opt, rngs, stop)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return p.Model.continueText(prompts, func(a *raw.Arena) (raw.Tensor, error) {
		all, err := p.features(a, imgs)
		if err != nil {
			return nil, err
		}
		return p.rowFeatures(a, all, of), nil
	}, s)
}

// ScoreText scores continuations by teacher forcing: row b*G+g is prompt (showing image b) then
// tokens[b*G+g]; log softmax(logits / temperature) of each token [N, T], with an autograd graph
// through the weights that train.
func (p *Policy) ScoreText(imgs []images.Planar, G int, prompt []int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	if N != len(imgs)*G || N == 0 {
		return nil, fmt.Errorf("hf: janus log-probs: %d rows for %d images x G=%d", N, len(imgs), G)
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("hf: janus log-probs: temperature %v must be positive", temperature)
	}
	m := p.Model
	P, T := len(prompt), 1
	for _, t := range tokens {
		T = max(T, len(t))
	}
	in := Batch{IDs: make([][]int, N), Prompt: P}
	of := make([]int, N)
	for r, t := range tokens {
		ids := append(append(make([]int, 0, P+T), prompt...), t...)
		for len(ids) < P+T {
			ids = append(ids, max(m.cfg.PAD, 0)) // after the row's end: nothing real attends to it
		}
		in.IDs[r], of[r] = ids, r/G
	}
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	all, err := p.features(a, imgs)
	if err != nil {
		return nil, fmt.Errorf("hf: janus log-probs: %w", err)
	}
	if p.ckpt {
		in.Checkpoint = m.lm.NewCheckpoint()
	}
	h, err := m.forward(a, in, p.rowFeatures(a, all, of), nil)
	if err != nil {
		in.Checkpoint.Free()
		return nil, fmt.Errorf("hf: janus log-probs: %w", err)
	}
	// The head runs over the positions that predict the tokens only (T of P+T).
	sp := hf.ScoredSpan(P, T)
	return in.Checkpoint.Attach(hf.CaptionScores(a, m.textLogits(a, a.Narrow(h, 1, int64(sp.From), int64(sp.Len))), T, tokens, temperature, withEntropy))
}
