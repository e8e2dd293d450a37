package hf

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Stepper runs a decoder one step at a time with a key/value cache, keeping the cache between
// steps in its own arena and each step's temporaries in one freed at the step's end: the
// decoding loop of every family's generation and sampling.
type Stepper struct {
	m      *Decoder
	cache  *KVCache
	keep   *raw.Arena
	Logits []float32 // [B*V] the last position's logits of the latest step
	Hidden []float32 // [B*D] the last position's final hidden state (after the norm)
}

// NewStepper starts a decoding with an empty cache; Close frees it.
func (m *Decoder) NewStepper() *Stepper {
	return &Stepper{m: m, keep: raw.New(m.dev.CInt()),
		cache: &KVCache{k: make([]raw.Tensor, len(m.layers)), v: make([]raw.Tensor, len(m.layers))}}
}

// Step runs a batch of the language model (the prompt first, then one token per row) and reads
// the logits and hidden state of its last position.
func (d *Stepper) Step(in Batch) error {
	in.Last = true
	return d.Run(len(in.IDs), func(a *raw.Arena, cache *KVCache) ([]raw.Tensor, raw.Tensor, error) {
		return d.m.Forward(a, in, cache)
	})
}

// Run is one step of B rows through forward, which runs a model on the step's arena with the
// cache (the language model alone, or with a vision tower in front) and returns its hidden
// states and logits [B, T, V'] (V' the width of the family's head).
func (d *Stepper) Run(B int, forward func(a *raw.Arena, cache *KVCache) (hidden []raw.Tensor, logits raw.Tensor, err error)) error {
	m := d.m
	a := raw.New(m.dev.CInt())
	old := append(append([]raw.Tensor(nil), d.cache.k...), d.cache.v...)
	hs, lg, err := forward(a, d.cache)
	if err == nil {
		err = a.Err()
	}
	if err == nil {
		err = d.read(a, B, hs, lg)
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

// read copies the last position's logits and final hidden state of a step's outputs.
func (d *Stepper) read(a *raw.Arena, B int, hs []raw.Tensor, lg raw.Tensor) error {
	// The logits' width is the head's: the vocabulary, or another head's (Janus's codebook).
	sh := a.Shape(lg)
	if len(sh) != 3 || sh[0] != int64(B) {
		return fmt.Errorf("hf: a decoder step gave logits of shape %v for %d rows", sh, B)
	}
	T, V := sh[1], int(sh[2])
	if len(d.Logits) != B*V || len(d.Hidden) != B*d.m.cfg.D {
		d.Logits, d.Hidden = make([]float32, B*V), make([]float32, B*d.m.cfg.D)
	}
	a.CopyToFloat32(a.Contiguous(a.Select(lg, 1, T-1)), d.Logits)
	a.CopyToFloat32(a.Contiguous(a.To(a.Select(hs[len(hs)-1], 1, T-1), raw.Float32)), d.Hidden)
	return a.Err()
}

// CacheBytes is the memory the key/value cache holds now: every layer's keys and values
// [B, KV, S, Dh] in the model's dtype. During a step the previous cache is alive too, until the
// step ends (Run).
func (d *Stepper) CacheBytes() int64 {
	var n int64
	for l := range d.cache.k {
		n += raw.Bytes(d.cache.k[l]) + raw.Bytes(d.cache.v[l])
	}
	return n
}

// Close frees the cache.
func (d *Stepper) Close() { _ = d.keep.Free() }
