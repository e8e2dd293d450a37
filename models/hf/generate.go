package hf

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
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
	dec := m.newDecoder()
	defer dec.close()
	s, err := newSampler(B, o.MaxNew, policy.SampleOptions{Greedy: true}, nil, o.Stop)
	if err != nil {
		return nil, err
	}
	feed := make([]int, B)
	for step := 0; step < o.MaxNew; step++ {
		if err := dec.step(in); err != nil {
			return nil, fmt.Errorf("hf: generate step %d: %w", step, err)
		}
		if !s.next(step, dec.logits, dec.hidden, m.cfg.Vocab, m.cfg.D, feed) {
			break
		}
		for b := range B {
			in.IDs[b] = []int{feed[b]}
			in.Pos[b] = []int{next[b]}
			in.Mask[b] = append(in.Mask[b], 1)
			next[b]++
		}
	}
	return s.rollout().Tokens, nil
}

// decoder runs a model one step at a time with a key/value cache, keeping the cache between steps
// in its own arena and each step's temporaries in one freed at the step's end.
type decoder struct {
	m      *LM
	cache  *kvCache
	keep   *raw.Arena
	logits []float32 // [B*V] the last position's logits of the latest step
	hidden []float32 // [B*D] the last position's final hidden state (after the norm)
}

func (m *LM) newDecoder() *decoder {
	return &decoder{m: m, keep: raw.New(m.dev.CInt()),
		cache: &kvCache{k: make([]raw.Tensor, len(m.layers)), v: make([]raw.Tensor, len(m.layers))}}
}

// step runs a batch of the language model (the prompt first, then one token per row) and reads
// the logits and hidden state of its last position.
func (d *decoder) step(in Batch) error {
	in.Last = true
	return d.run(len(in.IDs), func(a *raw.Arena, cache *kvCache) ([]raw.Tensor, raw.Tensor, error) {
		return d.m.forward(a, in, cache)
	})
}

// run is one step of B rows through forward, which runs a model on the step's arena with the
// cache (the language model alone, or with a vision tower in front).
func (d *decoder) run(B int, forward func(a *raw.Arena, cache *kvCache) (hidden []raw.Tensor, logits raw.Tensor, err error)) error {
	m := d.m
	a := raw.New(m.dev.CInt())
	old := append(append([]raw.Tensor(nil), d.cache.k...), d.cache.v...)
	hs, lg, err := forward(a, d.cache)
	if err == nil {
		err = a.Err()
	}
	if err == nil {
		// The logits' width is the head's: the vocabulary, or another head's (Janus's codebook).
		if sh := a.Shape(lg); len(sh) != 3 || sh[0] != int64(B) {
			err = fmt.Errorf("hf: a decoder step gave logits of shape %v for %d rows", sh, B)
		} else {
			T, V := sh[1], int(sh[2])
			if len(d.logits) != B*V || len(d.hidden) != B*m.cfg.D {
				d.logits, d.hidden = make([]float32, B*V), make([]float32, B*m.cfg.D)
			}
			a.CopyToFloat32(a.Contiguous(a.Select(lg, 1, T-1)), d.logits)
			a.CopyToFloat32(a.Contiguous(a.To(a.Select(hs[len(hs)-1], 1, T-1), raw.Float32)), d.hidden)
			err = a.Err()
		}
	}
	// The cache's new handles move to keep, and the ones they replace are freed: the cache holds
	// one copy of the keys and values, whatever the number of steps.
	for l := range d.cache.k {
		for _, h := range []*raw.Tensor{&d.cache.k[l], &d.cache.v[l]} {
			if *h != nil && a.Release(*h) {
				d.keep.Adopt(*h)
			}
		}
	}
	if err == nil {
		for _, h := range old {
			if h != nil && d.keep.Release(h) {
				raw.FreeHandle(h)
			}
		}
	}
	if ferr := a.Free(); err == nil {
		err = ferr
	}
	return err
}

func (d *decoder) close() { _ = d.keep.Free() }
