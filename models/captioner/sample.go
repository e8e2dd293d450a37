package captioner

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/world"
)

// Sample draws G captions for each image, all B*G rows in one batch, one token per step with a
// key/value cache. The image prefix is encoded once per image. rngs holds one generator per row
// (len B*G, row b*G+g), each used only for its row: a row's caption depends only on the image,
// the weights and its own generator, not on how rows are batched. rngs may be nil with Greedy.
// Sample records no autograd graph.
func (m *Model) Sample(images []world.Image, G int, opt SampleOptions, rngs []*rand.Rand) (*Rollout, error) {
	return m.sample(images, G, opt, rngs, true)
}

// sample is Sample; cached false uses the slow reference path that recomputes the whole
// sequence, image included, at every step (for tests).
func (m *Model) sample(images []world.Image, G int, opt SampleOptions, rngs []*rand.Rand, cached bool) (*Rollout, error) {
	if G < 1 {
		return nil, fmt.Errorf("policy: sample: G must be at least 1, got %d", G)
	}
	maxLen, temp, err := m.checkSampleOptions(opt)
	if err != nil {
		return nil, err
	}
	B := len(images)
	N := B * G
	if !opt.Greedy {
		if len(rngs) != N {
			return nil, fmt.Errorf("policy: sample: %d random generators for %d images x %d samples = %d rows; give one per row", len(rngs), B, G, N)
		}
		for r, g := range rngs {
			if g == nil {
				return nil, fmt.Errorf("policy: sample: random generator of row %d is nil", r)
			}
		}
	}
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)

	a := m.a
	defer a.Free()
	z, err := m.encodeImages(a, images)
	if err != nil {
		return nil, fmt.Errorf("policy: sample: %w", err)
	}
	var caches []kvCache
	if cached {
		ks, vs := m.prefix(a, z, int64(B))
		caches = m.newCache(a, ks, vs, int64(N), int64(maxLen))
	} else if G > 1 {
		z = a.RepeatInterleave(z, int64(G), 0)
	}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("policy: sample: encode images: %w", err)
	}

	V, D := m.cfg.Vocab, m.cfg.Dim
	roll := &Rollout{
		Tokens:    make([][]int, N),
		Lengths:   make([]int, N),
		LogProbs:  make([][]float32, N),
		Hidden:    make([][]float32, N),
		Truncated: make([]bool, N),
	}
	ids := make([]int64, N) // token fed at this step, per row
	var hist []int64        // reference path: every fed token, [N, t+1] row-major
	logits := make([]float32, N*V)
	hidden := make([]float32, N*D)
	done := make([]bool, N)
	var pick policy.Picker
	for r := range ids {
		ids[r] = int64(m.cfg.BOS)
	}
	active := N
	for t := 0; t < maxLen && active > 0; t++ {
		s := m.tokArena
		var hT, lT raw.Tensor
		if cached {
			hT, lT = m.step(s, caches, ids, int64(t), int64(G))
		} else {
			hist = appendColumn(hist, ids, t)
			hT, lT = m.full(s, z, s.FromInt64(hist, int64(N), int64(t+1)), int64(N), int64(t+1))
		}
		s.CopyToFloat32(lT, logits)
		if err := s.Err(); err != nil {
			_ = s.Free()
			return nil, fmt.Errorf("policy: sample: step %d: %w", t, err)
		}
		var ended []int
		for r := range N {
			if done[r] {
				continue
			}
			var rng *rand.Rand
			if !opt.Greedy {
				rng = rngs[r]
			}
			ban := -1
			if t+1 < opt.MinLen {
				ban = m.cfg.EOS
			}
			tok, lp := pick.Choose(logits[r*V:(r+1)*V], temp, opt.TopK, opt.Greedy, rng, ban)
			roll.Tokens[r] = append(roll.Tokens[r], tok)
			roll.LogProbs[r] = append(roll.LogProbs[r], float32(lp))
			ids[r] = int64(tok)
			if tok == m.cfg.EOS || t == maxLen-1 {
				done[r] = true
				roll.Truncated[r] = tok != m.cfg.EOS
				ended = append(ended, r)
				active--
			}
		}
		if len(ended) > 0 {
			s.CopyToFloat32(hT, hidden)
			for _, r := range ended {
				roll.Hidden[r] = append([]float32(nil), hidden[r*D:(r+1)*D]...)
			}
		}
		if err := s.Free(); err != nil {
			return nil, fmt.Errorf("policy: sample: step %d: %w", t, err)
		}
	}
	for r := range N {
		roll.Lengths[r] = len(roll.Tokens[r])
	}
	if err := a.Free(); err != nil {
		return nil, fmt.Errorf("policy: sample: %w", err)
	}
	return roll, nil
}

// checkSampleOptions validates opt and returns the effective max length and temperature.
func (m *Model) checkSampleOptions(opt SampleOptions) (maxLen int, temp float64, err error) {
	maxLen = opt.MaxLen
	if maxLen == 0 {
		maxLen = m.cfg.MaxLen
	}
	if maxLen < 1 || maxLen > m.cfg.MaxLen {
		return 0, 0, fmt.Errorf("policy: sample: MaxLen %d outside [1, %d] (the model's MaxLen)", opt.MaxLen, m.cfg.MaxLen)
	}
	temp = opt.Temperature
	if opt.Greedy && temp == 0 {
		temp = 1
	}
	if !(temp > 0) {
		return 0, 0, errors.New("policy: sample: Temperature must be positive (or set Greedy)")
	}
	if opt.TopK < 0 {
		return 0, 0, fmt.Errorf("policy: sample: TopK must be 0 (off) or positive, got %d", opt.TopK)
	}
	if opt.MinLen < 0 || opt.MinLen > maxLen {
		return 0, 0, fmt.Errorf("policy: sample: MinLen %d outside [0, %d] (the max length)", opt.MinLen, maxLen)
	}
	return maxLen, temp, nil
}

// appendColumn appends column t (ids, one per row) to the row-major matrix hist [N, t].
func appendColumn(hist, ids []int64, t int) []int64 {
	N := len(ids)
	out := make([]int64, N*(t+1))
	for r := range N {
		copy(out[r*(t+1):], hist[r*t:(r+1)*t])
		out[r*(t+1)+t] = ids[r]
	}
	return out
}
