package hf

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Stepper runs a decoder one step at a time with a preallocated key/value cache (KVCache),
// keeping the last position's logits and final hidden state of the latest step on the device, in
// its own arena, and each step's temporaries in one freed at the step's end: the decoding loop
// of every family's generation and sampling. A Sampler reads the logits where they are.
type Stepper struct {
	m      *Decoder
	cache  *KVCache
	keep   *raw.Arena // logits and hidden
	logits raw.Tensor // [R, V'] float32: the last position's logits of the latest step
	hidden raw.Tensor // [R, D] float32: its final hidden state (after the norm)
}

// NewStepper starts a decoding whose cache holds up to capacity positions (the prompt's and
// every token fed after it); Close frees it.
func (m *Decoder) NewStepper(capacity int) *Stepper {
	return &Stepper{m: m, keep: raw.New(m.dev.CInt()), cache: newKVCache(m.dev.CInt(), len(m.layers), capacity, m.kind)}
}

// Step runs a batch of the language model (the prompt first, then one token per row) and keeps
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
	return d.RunWith(B, nil, forward)
}

// RunWith is Run for a first step whose B rows serve several rows each: row r of the cache, the
// logits and the hidden state is row expand[r] of the step (a prompt's prefill run once for the
// G samples that continue it). Later steps run len(expand) rows.
func (d *Stepper) RunWith(B int, expand []int, forward func(a *raw.Arena, cache *KVCache) (hidden []raw.Tensor, logits raw.Tensor, err error)) error {
	a := raw.New(d.m.dev.CInt())
	var idx raw.Tensor
	if expand != nil {
		d.cache.expand = make([]int64, len(expand))
		for r, b := range expand {
			if b < 0 || b >= B {
				return fmt.Errorf("hf: row %d expands row %d of a step of %d", r, b, B)
			}
			d.cache.expand[r] = int64(b)
		}
		idx = a.FromInt64(d.cache.expand, int64(len(expand)))
	}
	hs, lg, err := forward(a, d.cache)
	d.cache.expand = nil
	if err == nil {
		err = a.Err()
	}
	if err == nil {
		err = d.read(a, B, idx, hs, lg)
	}
	if ferr := a.Free(); err == nil {
		err = ferr
	}
	return err
}

// read keeps the last position's logits and final hidden state of a step's outputs (rows
// selected by idx when not nil) in d.keep, in place of the previous step's.
func (d *Stepper) read(a *raw.Arena, B int, idx raw.Tensor, hs []raw.Tensor, lg raw.Tensor) error {
	// The logits' width is the head's: the vocabulary, or another head's (Janus's codebook).
	sh := a.Shape(lg)
	if len(sh) != 3 || sh[0] != int64(B) {
		return fmt.Errorf("hf: a decoder step gave logits of shape %v for %d rows", sh, B)
	}
	h := hs[len(hs)-1] // [B, T', D]: every position, whatever the logits were asked for
	hsh := a.Shape(h)
	if len(hsh) != 3 {
		return fmt.Errorf("hf: a decoder step gave hidden states of shape %v", hsh)
	}
	lg = a.Contiguous(a.Select(lg, 1, sh[1]-1))
	h = a.Contiguous(a.To(a.Select(h, 1, hsh[1]-1), raw.Float32))
	if idx != nil {
		lg, h = a.IndexSelect(lg, 0, idx), a.IndexSelect(h, 0, idx)
	}
	if err := a.Err(); err != nil {
		return err
	}
	if err := d.keep.Free(); err != nil {
		return err
	}
	// Handles own their tensors by reference: moving these two to keep keeps them alive when the
	// step's arena frees the rest.
	for _, t := range []raw.Tensor{lg, h} {
		if a.Release(t) {
			d.keep.Adopt(t)
		}
	}
	d.logits, d.hidden = lg, h
	return nil
}

// Logits returns the last position's logits of the latest step [R*V'] on the host: for callers
// that mix rows before picking (Janus's guidance); a Sampler reads them on the device.
func (d *Stepper) Logits(dst []float32) ([]float32, error) {
	a := raw.New(d.m.dev.CInt())
	defer a.Free()
	sh := a.Shape(d.logits)
	if len(sh) != 2 {
		return nil, fmt.Errorf("hf: no logits before the first step")
	}
	if n := int(sh[0] * sh[1]); len(dst) != n {
		dst = make([]float32, n)
	}
	a.CopyToFloat32(d.logits, dst)
	return dst, a.Err()
}

// CacheBytes is the memory the key/value cache holds: every layer's keys and values [R, KV, C,
// Dh] in the model's dtype, allocated at the first step for the capacity (written in place
// after: no step holds a second copy).
func (d *Stepper) CacheBytes() int64 { return d.cache.bytes() }

// Close frees the cache and the last step's outputs.
func (d *Stepper) Close() {
	_ = d.keep.Free()
	_ = d.cache.free()
}
