package janus

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Batch is the input of a forward pass of the decoder: N rows of T positions, each holding
// a text token, an image placeholder or a generated image code.
type Batch struct {
	// IDs are token ids. An id equal to image_token_id takes the next row of the features given
	// to forward (rows of the batch in order, then positions); where Codes says a code, the id
	// is not read (0 will do).
	IDs [][]int
	// Codes, when not nil, holds per position a codebook index (>= 0): a code of a generated
	// image, embedded by generation_embeddings and generation_aligner; -1 elsewhere.
	Codes [][]int
	// Pos are the rotary positions (nil: 0..T-1); Mask [N][S] which of the S keys (the cached
	// ones first) each row may attend to (nil: all of them), as Batch's.
	Pos, Mask [][]int
	Last      bool // only the last position's hidden state (generation)
	// Prompt, when positive, is how many leading positions of each row may hold placeholders:
	// an image token after them (one a caption sampled) keeps its token embedding, as it had
	// when it was sampled.
	Prompt int
	// Checkpoint, when set, runs the decoder's layers under activation checkpointing (as
	// hf.Batch's).
	Checkpoint *hf.Checkpoint
}

// forward runs a batch through the decoder and returns the final-norm hidden states [N, T, D]
// ([N, 1, D] with in.Last), in the model's kind. feats [P, D] are the image features of the
// batch's P placeholders (ImageFeatures), nil when it has none (placeholders then keep their
// token embeddings, as in transformers without pixel_values). With a cache, the batch's keys and
// values are appended to it. The graph is differentiable in every weight that requires grad.
func (m *Model) forward(a *raw.Arena, in Batch, feats raw.Tensor, cache *hf.KVCache) (raw.Tensor, error) {
	lm := m.lm
	N := len(in.IDs)
	if N == 0 || len(in.IDs[0]) == 0 {
		return nil, fmt.Errorf("hf: janus forward: an empty batch")
	}
	T := len(in.IDs[0])
	if in.Codes != nil && len(in.Codes) != N {
		return nil, fmt.Errorf("hf: janus forward: codes for %d rows, ids for %d", len(in.Codes), N)
	}
	x, err := m.embedInputs(a, in, feats)
	if err != nil {
		return nil, err
	}
	pos, keys, err := positions(in, N, T)
	if err != nil {
		return nil, err
	}
	cos, sin := lm.Rotary(a, pos)
	hidden, err := lm.Trunk(a, x, cos, sin, lm.Mask(a, keys, int64(T)), cache, in.Checkpoint)
	if err != nil {
		return nil, err
	}
	h := hidden[len(hidden)-1]
	if in.Last {
		h = a.Narrow(h, 1, int64(T-1), 1)
	}
	return h, a.Err()
}

// embedInputs returns the decoder's input embeddings [N, T, D] of a batch: the token embeddings,
// the image features feats in place of the placeholders, and the code embeddings where Codes
// says a code.
func (m *Model) embedInputs(a *raw.Arena, in Batch, feats raw.Tensor) (raw.Tensor, error) {
	c := m.cfg
	N, T := len(in.IDs), len(in.IDs[0])
	ids := make([]int64, 0, N*T)
	var slots, codeSlots, codes []int64 // flat positions of the placeholders and codes; the codes
	for r, row := range in.IDs {
		if len(row) != T {
			return nil, fmt.Errorf("hf: janus forward: rows of %d and %d positions in one batch", len(row), T)
		}
		if in.Codes != nil && len(in.Codes[r]) != T {
			return nil, fmt.Errorf("hf: janus forward: row %d has %d codes for %d positions", r, len(in.Codes[r]), T)
		}
		for t, id := range row {
			flat := int64(len(ids))
			if in.Codes != nil && in.Codes[r][t] >= 0 {
				if in.Codes[r][t] >= c.VQ.NumEmbeddings {
					return nil, fmt.Errorf("hf: janus forward: code %d outside the codebook of %d", in.Codes[r][t], c.VQ.NumEmbeddings)
				}
				codeSlots = append(codeSlots, flat)
				codes = append(codes, int64(in.Codes[r][t]))
				ids = append(ids, 0)
				continue
			}
			if id < 0 || id >= c.Text.Vocab {
				return nil, fmt.Errorf("hf: janus forward: token id %d outside the vocabulary of %d", id, c.Text.Vocab)
			}
			if id == c.ImageTokenID && (in.Prompt <= 0 || t < in.Prompt) {
				slots = append(slots, flat)
			}
			ids = append(ids, int64(id))
		}
	}
	NT, D := int64(N*T), int64(c.Text.D)
	x := a.Embedding(m.lm.Embedding(), a.FromInt64(ids, NT)) // [N*T, D]
	// The rows of [x; feats; code embeddings] that each position reads.
	table := []raw.Tensor{x}
	idx := make([]int64, NT)
	for i := range idx {
		idx[i] = int64(i)
	}
	next := NT
	if feats != nil {
		sh := a.Shape(feats)
		if sh == nil {
			return nil, a.Err()
		}
		if len(sh) != 2 || sh[0] != int64(len(slots)) || sh[1] != D {
			return nil, fmt.Errorf("hf: janus forward: image features of shape %v for %d placeholders of width %d", sh, len(slots), D)
		}
		for k, s := range slots {
			idx[s] = next + int64(k)
		}
		table = append(table, a.To(feats, m.lm.Kind()))
		next += int64(len(slots))
	}
	if len(codes) > 0 {
		for k, s := range codeSlots {
			idx[s] = next + int64(k)
		}
		table = append(table, m.codeEmbeddings(a, a.FromInt64(codes, int64(len(codes)))))
	}
	if len(table) > 1 {
		x = a.Embedding(a.Cat(0, table...), a.FromInt64(idx, NT))
	}
	return a.View(x, int64(N), int64(T), D), nil
}

// positions returns a batch's rotary positions and key masks, 0..T-1 and all keys open
// where the batch gives none, checked against its N rows of T tokens.
func positions(in Batch, N, T int) (pos, keys [][]int, err error) {
	pos, keys = in.Pos, in.Mask
	if pos == nil {
		pos = make([][]int, N)
		for r := range pos {
			pos[r] = make([]int, T)
			for t := range pos[r] {
				pos[r][t] = t
			}
		}
	}
	if keys == nil {
		keys = make([][]int, N)
		for r := range keys {
			keys[r] = make([]int, T)
			for t := range keys[r] {
				keys[r][t] = 1
			}
		}
	}
	if len(pos) != N || len(keys) != N {
		return nil, nil, fmt.Errorf("hf: janus forward: positions of %d rows and masks of %d for %d rows", len(pos), len(keys), N)
	}
	for r := range N {
		if len(pos[r]) != T || len(keys[r]) < T || len(keys[r]) != len(keys[0]) {
			return nil, nil, fmt.Errorf("hf: janus forward: row %d has %d positions and %d keys for %d tokens", r, len(pos[r]), len(keys[r]), T)
		}
	}
	return pos, keys, nil
}

// codeEmbeddings embeds codes [n] of the codebook as the decoder reads them:
// generation_aligner(generation_embeddings(codes)) [n, D].
func (m *Model) codeEmbeddings(a *raw.Arena, codes raw.Tensor) raw.Tensor {
	return a.To(m.genAligner.forward(a, a.Embedding(m.genEmbed, codes)), m.lm.Kind())
}

// textLogits is lm_head over hidden states [..., D]: the text logits [..., V] in float32.
func (m *Model) textLogits(a *raw.Arena, hidden raw.Tensor) raw.Tensor {
	return a.To(a.Linear(hidden, m.lm.Head(), nil), raw.Float32)
}

// imageLogits is generation_head over hidden states [..., D]: vision_head(act(proj_out(h))),
// the logits of the next image code [..., K] in float32.
func (m *Model) imageLogits(a *raw.Arena, hidden raw.Tensor) raw.Tensor {
	h := hf.Activation(a, m.cfg.VQ.HiddenAct, a.Linear(hidden, m.genProj.W, m.genProj.B))
	return a.To(a.Linear(h, m.genHead.W, m.genHead.B), raw.Float32)
}
