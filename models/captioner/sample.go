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
	if err := checkRngs(opt, rngs, B, G); err != nil {
		return nil, err
	}
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)

	a := m.a
	defer a.Free()
	z, caches, err := m.samplePrefix(a, images, G, maxLen, cached)
	if err != nil {
		return nil, err
	}
	st := &sampling{m: m, opt: opt, rngs: rngs, G: G, N: N, maxLen: maxLen, temp: temp,
		cached: cached, z: z, caches: caches, roll: newRollout(N), active: N,
		ids:    make([]int64, N),
		logits: make([]float32, N*m.cfg.Vocab),
		hidden: make([]float32, N*m.cfg.Dim),
		done:   make([]bool, N),
	}
	for r := range st.ids {
		st.ids[r] = int64(m.cfg.BOS)
	}
	for t := 0; t < maxLen && st.active > 0; t++ {
		if err := st.step(t); err != nil {
			return nil, err
		}
	}
	for r := range N {
		st.roll.Lengths[r] = len(st.roll.Tokens[r])
	}
	if err := a.Free(); err != nil {
		return nil, fmt.Errorf("policy: sample: %w", err)
	}
	return st.roll, nil
}

// checkRngs checks that a call that samples (not Greedy) has one generator for each of its
// B*G rows, none of them nil.
func checkRngs(opt SampleOptions, rngs []*rand.Rand, B, G int) error {
	if opt.Greedy {
		return nil
	}
	N := B * G
	if len(rngs) != N {
		return fmt.Errorf("policy: sample: %d random generators for %d images x %d samples = %d rows; give one per row", len(rngs), B, G, N)
	}
	for r, g := range rngs {
		if g == nil {
			return fmt.Errorf("policy: sample: random generator of row %d is nil", r)
		}
	}
	return nil
}

// samplePrefix encodes the images in a. Cached, it also returns the key/value caches of the
// B*G rows, holding each image's prefix; otherwise the codes are repeated G times, one per row,
// for the reference path.
func (m *Model) samplePrefix(a *raw.Arena, images []world.Image, G, maxLen int, cached bool) (raw.Tensor, []kvCache, error) {
	B := len(images)
	z, err := m.encodeImages(a, images)
	if err != nil {
		return z, nil, fmt.Errorf("policy: sample: %w", err)
	}
	var caches []kvCache
	if cached {
		ks, vs := m.prefix(a, z, int64(B))
		caches = m.newCache(a, ks, vs, int64(B*G), int64(maxLen))
	} else if G > 1 {
		z = a.RepeatInterleave(z, int64(G), 0)
	}
	if err := a.Err(); err != nil {
		return z, nil, fmt.Errorf("policy: sample: encode images: %w", err)
	}
	return z, caches, nil
}

// newRollout returns an empty rollout of N rows.
func newRollout(N int) *Rollout {
	return &Rollout{
		Tokens:    make([][]int, N),
		Lengths:   make([]int, N),
		LogProbs:  make([][]float32, N),
		Hidden:    make([][]float32, N),
		Truncated: make([]bool, N),
	}
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
	if err := policy.CheckTopP(opt.TopP); err != nil {
		return 0, 0, fmt.Errorf("policy: sample: %w", err)
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
