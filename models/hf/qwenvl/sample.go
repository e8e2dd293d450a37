package qwenvl

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Sample draws G captions per image, continuing the image's prompt, one token per step with a
// key/value cache; row b*G+g draws with rngs[b*G+g] (nil with opt.Greedy). The vision tower and
// the prompt's prefill run once per image, and the cache is expanded to the image's G rows.
func (p *Policy) Sample(imgs []images.Planar, G int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	N := len(imgs) * G
	s, err := hf.NewSampler(N, p.Max, opt, rngs, p.Stop)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	r, err := p.rows(imgs, 1) // one row per image
	if err != nil {
		return nil, err
	}
	T := len(r.ids[0])
	expand := make([]int, N)
	next := Batch{IDs: make([][]int, N), Mask: make([][]int, N)}
	for ax := range next.Pos {
		next.Pos[ax] = make([][]int, N)
	}
	for i := range N {
		expand[i] = i / G
		next.Mask[i] = append([]int(nil), r.mask[i/G]...)
	}
	dec := p.Model.newStepper(T + s.MaxLen() - 1)
	defer dec.Close()
	feed := make([]int, N)
	for t := 0; t < s.MaxLen(); t++ {
		if t == 0 {
			err = dec.prefill(Batch{IDs: r.ids, Pos: r.pos, Mask: r.mask}, expand,
				func(a *raw.Arena) (raw.Tensor, error) { return p.features(a, r, 1) })
		} else {
			err = dec.step(next, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("hf: sample step %d: %w", t, err)
		}
		active, err := s.Next(t, dec.Stepper, feed)
		if err != nil {
			return nil, err
		}
		if !active {
			break
		}
		for i := range N {
			next.IDs[i] = []int{feed[i]}
			for ax := range next.Pos {
				next.Pos[ax][i] = []int{T + r.delta[i/G] + t}
			}
			next.Mask[i] = append(next.Mask[i], 1)
		}
	}
	return s.Rollout(), nil
}

// LogProbs scores given captions by teacher forcing over [image prompt ; caption] (prompts
// left-padded, captions right-padded to the longest): log softmax(logits / temperature) of each
// caption token [N, T], 0 at padding, with an autograd graph through the language model when it
// trains (the vision tower's features are computed without one). Image b's G captions are rows
// b*G..b*G+G-1.
func (p *Policy) LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	if N != len(imgs)*G || N == 0 {
		return nil, fmt.Errorf("hf: log-probs: %d captions for %d images x G=%d", N, len(imgs), G)
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("hf: log-probs: temperature %v must be positive", temperature)
	}
	r, err := p.rows(imgs, G)
	if err != nil {
		return nil, err
	}
	P, T := len(r.ids[0]), 1
	for _, c := range tokens {
		T = max(T, len(c))
	}
	// The head runs over the positions that predict the caption only (T of P+T).
	in := Batch{IDs: make([][]int, N), Mask: make([][]int, N), Prompt: P, Logits: hf.ScoredSpan(P, T)}
	for ax := range in.Pos {
		in.Pos[ax] = make([][]int, N)
	}
	for i, c := range tokens {
		ids := append(append([]int(nil), r.ids[i]...), c...)
		for len(ids) < P+T {
			ids = append(ids, 0) // padding after the caption: no real position attends to it
		}
		in.IDs[i] = ids
		in.Mask[i] = append(append([]int(nil), r.mask[i]...), make([]int, T)...)
		for ax := range in.Pos {
			in.Pos[ax][i] = append(append([]int(nil), r.pos[ax][i]...), make([]int, T)...)
		}
		for t := range T {
			in.Mask[i][P+t] = 1
			for ax := range in.Pos {
				in.Pos[ax][i][P+t] = P + r.delta[i] + t
			}
		}
	}
	a := raw.New(p.Model.lm.Device().CInt())
	defer a.Free()
	feats, err := p.features(a, r, G)
	if err != nil {
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	if p.ckpt {
		in.Checkpoint = p.Model.lm.NewCheckpoint()
	}
	_, lg, err := p.Model.forward(a, in, feats, nil)
	if err != nil {
		in.Checkpoint.Free()
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	return in.Checkpoint.Attach(hf.CaptionScores(a, lg, T, tokens, temperature, withEntropy))
}
