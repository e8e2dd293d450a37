package qwenvl

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Batch is the input of a forward pass of the language model: B rows of T token ids, their
// M-RoPE positions (RopeIndex) and which keys each row may attend to (as Batch.Mask).
type Batch struct {
	IDs  [][]int
	Pos  MRoPE
	Mask [][]int // [B][S]: S keys, the cached ones first
	// Prompt, when positive, is the number of leading positions of each row that hold its
	// prompt: only there do <|image_pad|> tokens take image features (a caption that happens to
	// hold the token reads its embedding, as in generation). 0: every position.
	Prompt int
	Last   bool    // the logits of the last position only (as hf.Batch.Last)
	Logits hf.Span // the logits of these positions only (as hf.Batch.Logits)
	// Checkpoint, when set, runs the layers under activation checkpointing (as hf.Batch's).
	Checkpoint *hf.Checkpoint
}

// forward runs the language model on a batch whose <|image_pad|> tokens take, in order, the rows
// of images [M, D] (nil: no image in the batch; the token embeddings are then used as they are).
// With a cache, the batch's keys and values are appended to it. It returns, as LM.forward, the
// output of each layer (hidden[0] the input embeddings) and the logits [B, T, V] in float32 (of
// the positions in.Last or in.Logits ask for when they do).
func (m *Model) forward(a *raw.Arena, in Batch, images raw.Tensor, cache *hf.KVCache) (hidden []raw.Tensor, logits raw.Tensor, err error) {
	lm := m.lm
	c := lm.Config()
	B, T := int64(len(in.IDs)), int64(len(in.IDs[0]))
	ids := make([]int64, 0, B*T)
	var slots []int64 // positions (flat) of the image tokens
	for _, row := range in.IDs {
		if int64(len(row)) != T {
			return nil, nil, fmt.Errorf("hf: rows of %d and %d tokens in one batch", len(row), T)
		}
		for t, id := range row {
			if id < 0 || id >= c.Vocab {
				return nil, nil, fmt.Errorf("hf: token id %d outside the vocabulary of %d", id, c.Vocab)
			}
			if id == m.cfg.ImageToken && (in.Prompt <= 0 || t < in.Prompt) {
				slots = append(slots, int64(len(ids)))
			}
			ids = append(ids, int64(id))
		}
	}
	for ax := range in.Pos {
		if int64(len(in.Pos[ax])) != B {
			return nil, nil, fmt.Errorf("hf: M-RoPE positions of %d rows for %d", len(in.Pos[ax]), B)
		}
		for _, row := range in.Pos[ax] {
			if int64(len(row)) != T {
				return nil, nil, fmt.Errorf("hf: M-RoPE positions of %d tokens for %d", len(row), T)
			}
		}
	}
	x := a.Embedding(lm.Embedding(), a.FromInt64(ids, B*T)) // [B*T, D]
	if images != nil {
		sh := a.Shape(images)
		if sh == nil {
			return nil, nil, a.Err()
		}
		if len(sh) != 2 || sh[0] != int64(len(slots)) || sh[1] != int64(c.D) {
			return nil, nil, fmt.Errorf("hf: image features of shape %v for %d <|image_pad|> tokens of width %d", sh, len(slots), c.D)
		}
		// Rows of [x; images]: each image token's row is replaced by the next image feature.
		idx := make([]int64, B*T)
		for i := range idx {
			idx[i] = int64(i)
		}
		for k, s := range slots {
			idx[s] = B*T + int64(k)
		}
		x = a.Embedding(a.Cat(0, x, a.To(images, lm.Kind())), a.FromInt64(idx, B*T))
	}
	x = a.View(x, B, T, int64(c.D))
	cos, sin := m.rotary(a, in.Pos)
	keys := in.Mask
	if keys == nil { // every key open
		keys = make([][]int, B)
		for b := range keys {
			keys[b] = make([]int, T)
			for i := range keys[b] {
				keys[b][i] = 1
			}
		}
	}
	return lm.Stack(a, x, cos, sin, lm.Mask(a, keys, T), cache, hf.Batch{Last: in.Last, Logits: in.Logits}.Heads(int(T)), in.Checkpoint)
}

// rotary returns cos and sin [B, 1, T, Dh] of the M-RoPE positions: frequency i (of Dh/2) turns
// by the time position for the first mrope_section[0] frequencies, by the height position for
// the next mrope_section[1] and by the width position for the rest; the two halves of the head
// share the frequencies. Computed in float32 as transformers does.
func (m *Model) rotary(a *raw.Arena, pos MRoPE) (cos, sin raw.Tensor) {
	s0, s1 := m.cfg.MropeSection[0], m.cfg.MropeSection[0]+m.cfg.MropeSection[1]
	axis := func(i int) int {
		switch {
		case i < s0:
			return 0
		case i < s1:
			return 1
		}
		return 2
	}
	c := m.lm.Config()
	return hf.RotaryTables(a, m.lm.Kind(), c.RopeTheta, c.Dh, pos[:], axis)
}
