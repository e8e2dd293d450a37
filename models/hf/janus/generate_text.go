package janus

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// GenerateText continues each prompt greedily (ties to the lowest id), at most o.MaxNew tokens
// with o.Stop ending a row, as transformers' generate() in text mode with do_sample=False: the
// prompts (left-padded with PAD, or 0 when the config has none) hold G*G <image_placeholder>
// tokens per image, filled in order by the images of pixels [nImages, 3, S, S] (normalised as
// PreprocessImage gives them; nil with no image).
func (m *Model) GenerateText(prompts [][]int, pixels []float32, o hf.GenerateOptions) ([][]int, error) {
	c := m.cfg
	B := len(prompts)
	if B == 0 || o.MaxNew < 1 {
		return nil, fmt.Errorf("hf: janus generate: %d prompts, %d new tokens", B, o.MaxNew)
	}
	S, C := c.Vision.ImageSize, c.Vision.Channels
	if len(pixels)%(C*S*S) != 0 {
		return nil, fmt.Errorf("hf: janus generate: %d pixel values are not images of %dx%dx%d", len(pixels), C, S, S)
	}
	nImg := len(pixels) / (C * S * S)
	holders := 0
	for _, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("hf: janus generate: an empty prompt")
		}
		for _, id := range p {
			if id == c.ImageTokenID {
				holders++
			}
		}
	}
	if nImg > 0 && holders != nImg*c.Vision.Tokens {
		return nil, fmt.Errorf("hf: janus generate: %d <image_placeholder> tokens for %d images of %d", holders, nImg, c.Vision.Tokens)
	}
	s, err := hf.NewSampler(B, o.MaxNew, policy.SampleOptions{Greedy: true}, nil, o.Stop)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var feats func(a *raw.Arena) (raw.Tensor, error)
	if nImg > 0 {
		feats = func(a *raw.Arena) (raw.Tensor, error) {
			return m.ImageFeatures(a, a.FromFloat32(pixels, int64(nImg), int64(C), int64(S), int64(S))), nil
		}
	}
	roll, err := m.continueText(prompts, feats, s)
	if err != nil {
		return nil, err
	}
	return roll.Tokens, nil
}

// continueText continues prompts (left-padded with PAD, or 0 when the config has none) one token
// a step with the decoder's key/value cache, each token picked by s, until s stops; feats gives
// the features of the prompts' placeholders, which enter at the first step (nil: none).
func (m *Model) continueText(prompts [][]int, feats func(a *raw.Arena) (raw.Tensor, error), s *hf.Sampler) (*policy.Rollout, error) {
	c := m.cfg
	N := len(prompts)
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	T := 0
	for _, p := range prompts {
		T = max(T, len(p))
	}
	pad := max(c.PAD, 0)
	in := Batch{IDs: make([][]int, N), Pos: make([][]int, N), Mask: make([][]int, N), Last: true}
	next := make([]int, N)
	for r, p := range prompts {
		np := T - len(p)
		in.IDs[r], in.Pos[r], in.Mask[r] = make([]int, T), make([]int, T), make([]int, T)
		for t := range T {
			in.IDs[r][t], in.Pos[r][t] = pad, 1
			if t >= np {
				in.IDs[r][t], in.Pos[r][t], in.Mask[r][t] = p[t-np], t-np, 1
			}
		}
		next[r] = len(p)
	}
	dec := m.lm.NewStepper(T + s.MaxLen() - 1)
	defer dec.Close()
	feed := make([]int, N)
	first := true
	for step := 0; step < s.MaxLen(); step++ {
		err := dec.Run(N, func(a *raw.Arena, cache *hf.KVCache) ([]raw.Tensor, raw.Tensor, error) {
			var f raw.Tensor
			if first && feats != nil {
				var err error
				if f, err = feats(a); err != nil {
					return nil, nil, err
				}
			}
			h, err := m.forward(a, in, f, cache)
			if err != nil {
				return nil, nil, err
			}
			return []raw.Tensor{h}, m.textLogits(a, h), nil
		})
		if err != nil {
			return nil, fmt.Errorf("hf: janus text step %d: %w", step, err)
		}
		first = false
		active, err := s.Next(step, dec, feed)
		if err != nil {
			return nil, err
		}
		if !active {
			break
		}
		for r := range N {
			in.IDs[r], in.Pos[r] = []int{feed[r]}, []int{next[r]}
			in.Mask[r] = append(in.Mask[r], 1)
			next[r]++
		}
	}
	return s.Rollout(), nil
}
