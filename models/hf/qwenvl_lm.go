package hf

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// QwenVLBatch is the input of a forward pass of the language model: B rows of T token ids, their
// M-RoPE positions (RopeIndex) and which keys each row may attend to (as Batch.Mask).
type QwenVLBatch struct {
	IDs  [][]int
	Pos  MRoPE
	Mask [][]int // [B][S]: S keys, the cached ones first
	// Prompt, when positive, is the number of leading positions of each row that hold its
	// prompt: only there do <|image_pad|> tokens take image features (a caption that happens to
	// hold the token reads its embedding, as in generation). 0: every position.
	Prompt int
	Last   bool // the logits of the last position only (as Batch.Last)
}

// forward runs the language model on a batch whose <|image_pad|> tokens take, in order, the rows
// of images [M, D] (nil: no image in the batch; the token embeddings are then used as they are).
// With a cache, the batch's keys and values are appended to it. It returns, as LM.forward, the
// output of each layer (hidden[0] the input embeddings) and the logits [B, T, V] in float32.
func (m *QwenVL) forward(a *raw.Arena, in QwenVLBatch, images raw.Tensor, cache *kvCache) (hidden []raw.Tensor, logits raw.Tensor, err error) {
	lm := m.lm
	c := lm.cfg
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
	x := a.Embedding(lm.embed, a.FromInt64(ids, B*T)) // [B*T, D]
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
		x = a.Embedding(a.Cat(0, x, a.To(images, lm.kind)), a.FromInt64(idx, B*T))
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
	return lm.stack(a, x, cos, sin, lm.mask(a, keys, T), cache, in.Last)
}

// rotary returns cos and sin [B, 1, T, Dh] of the M-RoPE positions: frequency i (of Dh/2) turns
// by the time position for the first mrope_section[0] frequencies, by the height position for
// the next mrope_section[1] and by the width position for the rest; the two halves of the head
// share the frequencies. Computed in float32 as transformers does.
func (m *QwenVL) rotary(a *raw.Arena, pos MRoPE) (cos, sin raw.Tensor) {
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
	c := m.lm.cfg
	return rotaryTables(a, m.lm.kind, c.RopeTheta, c.Dh, pos[:], axis)
}

// EncodeImages runs the vision tower on pixel rows [N, C*T*P*P] (QwenVLImageProcessor's output,
// the images concatenated) of the images of grids and returns their features [M, D], M = N /
// merge^2, in float32, in the order of the images' <|image_pad|> tokens.
func (m *QwenVL) EncodeImages(pixels []float32, grids [][3]int) ([]float32, error) {
	a := raw.New(m.lm.dev.CInt())
	defer a.Free()
	row := m.cfg.Vision.Channels * m.cfg.Vision.TemporalPatch * m.cfg.Vision.Patch * m.cfg.Vision.Patch
	if len(pixels) == 0 || len(pixels)%row != 0 {
		return nil, fmt.Errorf("hf: %d pixel values are not rows of %d", len(pixels), row)
	}
	f, err := m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/row), int64(row)), grids)
	if err != nil {
		return nil, err
	}
	sh := a.Shape(f)
	out := make([]float32, sh[0]*sh[1])
	a.CopyToFloat32(a.Contiguous(a.To(f, raw.Float32)), out)
	return out, a.Err()
}

// QwenVLPrompt is one row of a generation: token ids with their images' placeholders already
// expanded (QwenVLImageProcessor.ExpandPrompt), and the pixel rows and grids of its images.
type QwenVLPrompt struct {
	IDs    []int
	Pixels []float32 // [N, C*T*P*P] of the row's images, concatenated
	Grids  [][3]int
}

// Generate continues each prompt greedily (ties to the lowest id, as torch.argmax), one token per
// step with a key/value cache, and returns each row's new tokens: transformers' generate() with
// do_sample=False. Rows are left-padded into one batch; new tokens continue each row's M-RoPE
// positions from its largest one + 1 on all three axes.
func (m *QwenVL) Generate(prompts []QwenVLPrompt, o GenerateOptions) ([][]int, error) {
	B := len(prompts)
	if B == 0 || o.MaxNew < 1 {
		return nil, fmt.Errorf("hf: generate: %d prompts, %d new tokens", B, o.MaxNew)
	}
	T := 0
	var pixels []float32
	var grids [][3]int
	for _, p := range prompts {
		if len(p.IDs) == 0 {
			return nil, fmt.Errorf("hf: generate: an empty prompt")
		}
		T = max(T, len(p.IDs))
		pixels = append(pixels, p.Pixels...)
		grids = append(grids, p.Grids...)
	}
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	in := QwenVLBatch{IDs: make([][]int, B), Mask: make([][]int, B)}
	for b, p := range prompts {
		pad := T - len(p.IDs)
		in.IDs[b] = append(make([]int, pad), p.IDs...)
		in.Mask[b] = make([]int, T)
		for t := pad; t < T; t++ {
			in.Mask[b][t] = 1
		}
	}
	pos, delta, err := m.cfg.RopeIndex(in.IDs, in.Mask, grids)
	if err != nil {
		return nil, err
	}
	in.Pos = pos
	next := make([]int, B) // each row's next position
	for b := range B {
		next[b] = T + delta[b]
	}
	dec := m.newDecoder()
	defer dec.close()
	V := m.lm.cfg.Vocab
	row := m.cfg.Vision.Channels * m.cfg.Vision.TemporalPatch * m.cfg.Vision.Patch * m.cfg.Vision.Patch
	if len(pixels)%row != 0 {
		return nil, fmt.Errorf("hf: generate: %d pixel values are not rows of %d", len(pixels), row)
	}
	var images func(a *raw.Arena) (raw.Tensor, error)
	if len(grids) > 0 {
		images = func(a *raw.Arena) (raw.Tensor, error) {
			return m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/row), int64(row)), grids)
		}
	}
	s, err := newSampler(B, o.MaxNew, policy.SampleOptions{Greedy: true}, nil, o.Stop)
	if err != nil {
		return nil, err
	}
	feed := make([]int, B)
	for step := 0; step < o.MaxNew; step++ {
		if err := dec.step(in, images); err != nil {
			return nil, fmt.Errorf("hf: generate step %d: %w", step, err)
		}
		images = nil
		if !s.next(step, dec.logits, dec.hidden, V, m.lm.cfg.D, feed) {
			break
		}
		for b := range B {
			in.IDs[b] = []int{feed[b]}
			for ax := range in.Pos {
				in.Pos[ax][b] = []int{next[b]}
			}
			in.Mask[b] = append(in.Mask[b], 1)
			next[b]++
		}
	}
	return s.rollout().Tokens, nil
}
