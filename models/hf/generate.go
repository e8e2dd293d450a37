package hf

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxNew int // tokens to generate per row
	// Stop holds the ids that end a row (an end-of-sequence token, included in its output);
	// empty: rows run for MaxNew tokens, as transformers' generate does without an eos id.
	Stop []int
}

// Generate continues each prompt (rows of any length, left-padded into one batch) greedily, one
// token per step with a key/value cache, and returns each row's new tokens. Ties go to the lowest
// id, as torch.argmax does.
func (m *LM) Generate(prompts [][]int, o GenerateOptions) ([][]int, error) {
	return m.generate(prompts, o, nil)
}

func (m *LM) generate(prompts [][]int, o GenerateOptions, _ []*rand.Rand) ([][]int, error) {
	B := len(prompts)
	if B == 0 || o.MaxNew < 1 {
		return nil, fmt.Errorf("hf: generate: %d prompts, %d new tokens", B, o.MaxNew)
	}
	T := 0
	for _, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("hf: generate: an empty prompt (give at least a start token)")
		}
		T = max(T, len(p))
	}
	// Left padding: row b's prompt ends at position T-1 for every row.
	in := Batch{IDs: make([][]int, B), Pos: make([][]int, B), Mask: make([][]int, B)}
	next := make([]int, B) // each row's next position
	for b, p := range prompts {
		pad := T - len(p)
		in.IDs[b] = append(make([]int, pad), p...)
		in.Mask[b] = make([]int, T)
		in.Pos[b] = make([]int, T)
		for t := range T {
			if t >= pad {
				in.Mask[b][t] = 1
				in.Pos[b][t] = t - pad
			} else {
				in.Pos[b][t] = 1 // unused; transformers puts 1 there
			}
		}
		next[b] = len(p)
	}
	cache := &kvCache{k: make([]raw.Tensor, len(m.layers)), v: make([]raw.Tensor, len(m.layers))}
	keep := raw.New(m.dev.CInt()) // holds the cache between steps
	defer keep.Free()
	out := make([][]int, B)
	done := make([]bool, B)
	V := m.cfg.Vocab
	last := make([]float32, B*V)
	for step := 0; step < o.MaxNew; step++ {
		a := raw.New(m.dev.CInt())
		_, logits, err := m.forward(a, in, cache)
		if err == nil {
			sh := a.Shape(logits)
			a.CopyToFloat32(a.Contiguous(a.Select(logits, 1, sh[1]-1)), last)
			err = a.Err()
		}
		// The cache's new handles move to keep; the ones they replace are freed.
		for l := range cache.k {
			for _, h := range []*raw.Tensor{&cache.k[l], &cache.v[l]} {
				if *h != nil && a.Release(*h) {
					keep.Adopt(*h)
				}
			}
		}
		if ferr := a.Free(); err == nil {
			err = ferr
		}
		if err != nil {
			return nil, fmt.Errorf("hf: generate step %d: %w", step, err)
		}
		ids := make([]int, B)
		for b := range B {
			row := last[b*V : (b+1)*V]
			best := 0
			for i, v := range row {
				if v > row[best] {
					best = i
				}
			}
			ids[b] = best
			if !done[b] {
				out[b] = append(out[b], best)
				for _, s := range o.Stop {
					done[b] = done[b] || best == s
				}
			}
		}
		allDone := true
		for _, d := range done {
			allDone = allDone && d
		}
		if allDone {
			break
		}
		for b := range B {
			in.IDs[b] = []int{ids[b]}
			in.Pos[b] = []int{next[b]}
			in.Mask[b] = append(in.Mask[b], 1)
			next[b]++
		}
	}
	return out, nil
}
