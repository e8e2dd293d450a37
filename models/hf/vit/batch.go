package vit

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// DefaultMaxBatch is the most images one forward pass of the embedders carries unless
// SetMaxBatch says otherwise: 64 images of 224 px hold about 3.2k tokens of CLIP-B/32 or 16k of
// DINOv2-B/14, whose activations of one layer fit a GPU's memory many times over.
const DefaultMaxBatch = 64

// SetMaxBatch sets the most images one forward pass of the embedders (Embed, EmbedBatch,
// EmbedPlanar, EmbedImages) carries; more are embedded in several passes. The features do not
// depend on it (up to float rounding of the batched matrix products).
func (v *Model) SetMaxBatch(n int) error {
	if n < 1 {
		return fmt.Errorf("hf: a batch of %d images: give at least 1", n)
	}
	v.maxBatch = n
	return nil
}

// MaxBatch is the most images one forward pass of the embedders carries.
func (v *Model) MaxBatch() int { return v.maxBatch }

// embedPixels runs B preprocessed images through the model and returns their L2-normalised
// features. Only the last hidden state is kept, so each step (the embeddings, each layer) runs
// in an arena of its own that is freed once the next step has its input: the memory held is the
// weights, the batch's pixels and one layer's activations, whatever the depth.
func (v *Model) embedPixels(pixels []float32, B int) ([][]float32, error) {
	a := raw.New(v.dev.CInt())
	defer a.Free()
	px, S, err := v.pixels(a, pixels, B)
	if err != nil {
		return nil, err
	}
	b := int64(B)
	T := v.enc.Tokens(S / int64(v.cfg.Patch))
	x, err := v.scoped(func(s *raw.Arena) raw.Tensor { return v.enc.Embed(s, px, b, S) })
	for i := 0; err == nil && i < len(v.enc.Layers); i++ {
		in := x
		x, err = v.scoped(func(s *raw.Arena) raw.Tensor { return v.enc.Layer(s, i, in, b, T) })
		raw.FreeHandle(in)
	}
	if err != nil {
		return nil, fmt.Errorf("hf: %s embedder: %w", v.Name(), err)
	}
	acts := v.pooling(a, a.Adopt(x), b, S)
	f := acts.pooled
	if acts.embeds != nil {
		f = acts.embeds
	}
	dim := v.Dim()
	flat := v.values(a, f, B*dim)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: %s embedder: %w", v.Name(), err)
	}
	out := make([][]float32, B)
	for r := range out {
		out[r] = normalize(flat[r*dim : (r+1)*dim : (r+1)*dim])
	}
	return out, nil
}

// scoped runs step in an arena of its own and frees the arena but for the step's result, which
// the caller then owns (raw.FreeHandle).
func (v *Model) scoped(step func(s *raw.Arena) raw.Tensor) (raw.Tensor, error) {
	s := raw.New(v.dev.CInt())
	y := step(s)
	if err := s.Err(); err != nil {
		s.Free()
		return nil, err
	}
	s.Release(y)
	s.Free()
	return y, nil
}

// normalize scales row to unit L2 norm in float64 (a zero row stays zero) and returns it.
func normalize(row []float32) []float32 {
	ss := 0.0
	for _, x := range row {
		ss += float64(x) * float64(x)
	}
	if ss > 0 {
		inv := 1 / math.Sqrt(ss)
		for i, x := range row {
			row[i] = float32(float64(x) * inv)
		}
	}
	return row
}
