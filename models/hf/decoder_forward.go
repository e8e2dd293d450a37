package hf

import (
	"errors"
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Batch is the input of a forward pass: B rows of T token ids, the positions of each token
// (rotary), and which keys each row may attend to (1) or not (0, padding).
type Batch struct {
	IDs  [][]int
	Pos  [][]int
	Mask [][]int // [B][S]: S keys, the cached ones first
	// Last asks for the logits of the last position only ([B, 1, V]): generation reads no other,
	// and the head over a large vocabulary is a good part of a prompt's cost.
	Last bool
	// Logits, when its Len is positive, asks for the logits of those positions only ([B, Len, V]):
	// teacher forcing reads only the positions that predict the caption (ScoredSpan), and the
	// head over the prompt's would be most of the head's cost and memory. Last wins over it.
	Logits Span
	// Checkpoint, when set, runs the layers under activation checkpointing (no cache then): the
	// backward of the outputs must be completed by its Finish.
	Checkpoint *Checkpoint
}

// Span is a run of Len positions from From. The zero Span stands for every position.
type Span struct{ From, Len int }

// ScoredSpan is the span of positions whose logits predict a caption of T tokens that follows
// a prompt of P positions: position P-1+t predicts caption token t.
func ScoredSpan(P, T int) Span { return Span{From: P - 1, Len: T} }

// Forward runs a batch through the decoder in arena a. With a cache, the batch's keys and values
// are written into it and attention reads every cached position. It returns the output of each layer
// (hidden[0] the embeddings, hidden[L] after the final norm) and the logits [B, T, V] in float32,
// of the positions in.Last or in.Logits ask for when they do.
func (m *Decoder) Forward(a *raw.Arena, in Batch, cache *KVCache) (hidden []raw.Tensor, logits raw.Tensor, err error) {
	c := m.cfg
	B, T := int64(len(in.IDs)), int64(len(in.IDs[0]))
	ids := make([]int64, 0, B*T)
	for _, row := range in.IDs {
		if int64(len(row)) != T {
			return nil, nil, fmt.Errorf("hf: rows of %d and %d tokens in one batch", len(row), T)
		}
		for _, id := range row {
			if id < 0 || id >= c.Vocab {
				return nil, nil, fmt.Errorf("hf: token id %d outside the vocabulary of %d", id, c.Vocab)
			}
			ids = append(ids, int64(id))
		}
	}
	cos, sin := m.Rotary(a, in.Pos)
	mask := m.Mask(a, in.Mask, T)
	x := a.Embedding(m.embed, a.FromInt64(ids, B, T)) // [B, T, D]
	return m.Stack(a, x, cos, sin, mask, cache, in.Heads(int(T)), in.Checkpoint)
}

// Heads is the span of positions a batch of T positions asks logits for (Last, Logits, or all).
func (in Batch) Heads(T int) Span {
	if in.Last {
		return Span{From: T - 1, Len: 1}
	}
	return in.Logits
}

// Stack runs input embeddings x [B, T, D] through the decoder layers (rotary tables cos, sin and
// the additive mask given), the final norm and the head over the positions of heads ([B, Len, V];
// the zero Span: every position, [B, T, V]): the part every family of causal LM shares, whatever
// made x and the positions (text alone, or image features spliced in). ck, when not nil,
// checkpoints the layers (Trunk).
func (m *Decoder) Stack(a *raw.Arena, x, cos, sin, mask raw.Tensor, cache *KVCache, heads Span, ck *Checkpoint) (hidden []raw.Tensor, logits raw.Tensor, err error) {
	if hidden, err = m.Trunk(a, x, cos, sin, mask, cache, ck); err != nil {
		return nil, nil, err
	}
	x = hidden[len(hidden)-1]
	if heads.Len > 0 {
		if sh := a.Shape(x); sh != nil && (heads.From < 0 || int64(heads.From+heads.Len) > sh[1]) {
			return nil, nil, fmt.Errorf("hf: logits of positions [%d, %d) of rows of %d", heads.From, heads.From+heads.Len, sh[1])
		}
		x = a.Narrow(x, 1, int64(heads.From), int64(heads.Len))
	}
	logits = a.To(a.Linear(x, m.head, nil), raw.Float32)
	return hidden, logits, a.Err()
}

// Trunk is Stack without the head: the decoder layers and the final norm, whose output is the
// last of the hidden states it returns (a family with other heads, Janus's, reads it). With a
// Checkpoint ck (and no cache) the layers run under activation checkpointing (Checkpoint).
func (m *Decoder) Trunk(a *raw.Arena, x, cos, sin, mask raw.Tensor, cache *KVCache, ck *Checkpoint) (hidden []raw.Tensor, err error) {
	if ck != nil {
		if cache != nil {
			err = errors.New("hf: activation checkpointing runs without a key/value cache")
			a.Fail(err)
			return nil, err
		}
		if hidden, err = ck.trunk(a, x, cos, sin, mask); err != nil {
			a.Fail(err)
		}
		return hidden, err
	}
	hidden = append(hidden, x)
	for l := range m.layers {
		// Each layer's temporaries live in their own arena, freed when the layer is done: only
		// its output moves to a (the cache's buffers are written in place), so a forward pass
		// holds one layer's activations at a time (autograd keeps what a backward needs by itself).
		la := raw.New(m.dev.CInt())
		y := m.layer(la, &m.layers[l], x, cos, sin, mask, cache, l)
		if err := la.Err(); err != nil {
			la.Free()
			a.Fail(err)
			return nil, err
		}
		if la.Release(y) {
			a.Adopt(y)
		}
		if err := la.Free(); err != nil {
			a.Fail(err)
			return nil, err
		}
		x = y
		if l < len(m.layers)-1 {
			hidden = append(hidden, x)
		}
	}
	if cache != nil {
		if sh := a.Shape(x); sh != nil {
			cache.commit(int(sh[1]))
		}
	}
	hidden = append(hidden, m.rmsNorm(a, x, m.norm))
	return hidden, a.Err()
}

// layer is one decoder layer: x + attn(norm(x)), then + mlp(norm(.)). cache, when set, receives
// the layer's keys and values (layer l of it) and attention reads every cached position.
func (m *Decoder) layer(a *raw.Arena, w *decoderLayer, x, cos, sin, mask raw.Tensor, cache *KVCache, l int) raw.Tensor {
	c := m.cfg
	sh := a.Shape(x)
	if sh == nil {
		return nil
	}
	B, T := sh[0], sh[1]
	H, KV, Dh := int64(c.H), int64(c.KV), int64(c.Dh)
	h := m.rmsNorm(a, x, w.inNorm)
	heads := func(l Linear, n int64) raw.Tensor { // [B, n, T, Dh]
		return a.Transpose(a.View(m.project(a, l, h), B, T, n, Dh), 1, 2)
	}
	q := Rope(a, heads(w.q, H), cos, sin)
	k := Rope(a, heads(w.k, KV), cos, sin)
	v := heads(w.v, KV)
	if cache != nil {
		K, V := cache.write(a, l, k, v)
		if cache.expand == nil {
			k, v = K, V
		} // else the first step, whose rows are expanded in the cache only: it reads its own keys
	}
	o := groupedAttend(a, q, k, v, mask, m.kind, B, T, H, KV, Dh) // [B, H, T, Dh]
	o = a.Reshape(a.Transpose(o, 1, 2), B, T, H*Dh)               // [B, T, H*Dh]
	x = a.Add(x, m.project(a, w.o, o))
	h = m.rmsNorm(a, x, w.postNorm)
	mlp := a.Mul(a.Silu(m.project(a, w.gate, h)), m.project(a, w.up, h))
	return a.Add(x, m.project(a, w.down, mlp))
}

// rmsNorm is the decoder's RMSNorm with its eps and kind.
func (m *Decoder) rmsNorm(a *raw.Arena, x, w raw.Tensor) raw.Tensor {
	return RMSNorm(a, x, w, m.cfg.Eps, m.kind)
}

// Rotary returns cos and sin [B, 1, T, Dh] of the positions (RotaryTables with one axis).
func (m *Decoder) Rotary(a *raw.Arena, pos [][]int) (cos, sin raw.Tensor) {
	return RotaryTables(a, m.kind, m.cfg.RopeTheta, m.cfg.Dh, [][][]int{pos}, func(int) int { return 0 })
}

// Mask is the additive attention mask [B, 1, T, S] of T new queries over S keys (the last T of
// them new): key j is open to query i when it is not padding and not in its future. Closed keys
// get the lowest float32, not -Inf, so that a query with no open key (a padding position) gets
// finite, unused outputs instead of NaNs that would reach the other rows' keys.
func (m *Decoder) Mask(a *raw.Arena, keys [][]int, T int64) raw.Tensor {
	B, S := len(keys), len(keys[0])
	vals := make([]float32, B*int(T)*S)
	neg := float32(-math.MaxFloat32)
	for b, row := range keys {
		for i := 0; i < int(T); i++ {
			q := S - int(T) + i // the query's own key index
			for j := 0; j < S; j++ {
				if j > q || row[j] == 0 {
					vals[(b*int(T)+i)*S+j] = neg
				}
			}
		}
	}
	return a.FromFloat32(vals, int64(B), 1, T, int64(S))
}
