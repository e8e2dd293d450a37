package janus

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// ImageGenOptions control GenerateImageCodes.
type ImageGenOptions struct {
	// Scale is the guidance scale: each code is drawn from uncond + Scale * (cond - uncond) of
	// the conditional and unconditional rows' logits (1: the conditional logits; transformers
	// applies guidance only above 1 and Janus-Pro uses 5).
	Scale       float64
	Temperature float64 // sampling temperature (not read when Greedy)
	TopK        int     // sample among the TopK most likely codes; 0: the whole codebook
	Greedy      bool    // the most likely code (the first on ties, as torch.argmax)
}

// GenerateImageCodes generates G*G image codes per prompt with classifier-free guidance, as
// transformers' generate(generation_mode="image") does. Each prompt is token ids as Janus's
// processor builds them in image mode (the tokenizer's <bos>, the text, then <begin_of_image>
// last); prompts of different lengths are left-padded with PAD. Each prompt runs as two rows:
// itself, and its unconditional twin in which every token but BOS and BOI is PAD (padding stays
// masked in both). Every step reads generation_head at the last position of both rows, mixes
// the logits (ImageGenOptions.Scale), picks a code (row b samples with rngs[b]; nil when
// Greedy) and feeds it back to both rows through generation_embeddings and generation_aligner,
// with the decoder's key/value cache. The codes are in raster order of the G x G grid.
func (m *Model) GenerateImageCodes(prompts [][]int, o ImageGenOptions, rngs []*rand.Rand) ([][]int, error) {
	codes, _, err := m.SampleImageCodes(prompts, o, rngs)
	return codes, err
}

// SampleImageCodes is GenerateImageCodes that also returns each code's log-probability under the
// distribution it was drawn from, log softmax(mixed / temperature) (temperature 1 when Greedy):
// what ScoreCodes computes by teacher forcing.
func (m *Model) SampleImageCodes(prompts [][]int, o ImageGenOptions, rngs []*rand.Rand) ([][]int, [][]float32, error) {
	c := m.cfg
	B := len(prompts)
	switch err := o.check(); {
	case err != nil:
		return nil, nil, err
	case B == 0:
		return nil, nil, fmt.Errorf("hf: janus image generation: no prompts")
	case !o.Greedy && len(rngs) != B:
		return nil, nil, fmt.Errorf("hf: janus image generation: %d random generators for %d prompts", len(rngs), B)
	}
	if c.PAD < 0 || c.BOI < 0 {
		return nil, nil, fmt.Errorf("hf: janus image generation needs pad_token_id and boi_token_id (generation_config.json); the folder gives %d and %d", c.PAD, c.BOI)
	}
	T := 0
	for i, p := range prompts {
		if len(p) == 0 || p[len(p)-1] != c.BOI {
			return nil, nil, fmt.Errorf("hf: janus image generation: prompt %d does not end with <begin_of_image> (%d)", i, c.BOI)
		}
		T = max(T, len(p))
	}
	in := m.guidedBatch(prompts, T)
	next := make([]int, B) // each prompt's next position
	for b, p := range prompts {
		next[b] = len(p)
	}
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	dec := m.lm.NewStepper(T + c.Vision.Tokens - 1)
	defer dec.Close()
	K, n := c.VQ.NumEmbeddings, c.Vision.Tokens
	temp := o.Temperature
	if o.Greedy {
		temp = 1
	}
	var pick policy.Picker
	var lg []float32 // the step's logits on the host: guidance mixes them before the pick
	mixed := make([]float32, K)
	s := float32(o.Scale)
	out := make([][]int, B)
	logp := make([][]float32, B)
	in.Last = true
	for step := range n {
		err := dec.Run(2*B, func(a *raw.Arena, cache *hf.KVCache) ([]raw.Tensor, raw.Tensor, error) {
			h, err := m.forward(a, in, nil, cache)
			if err != nil {
				return nil, nil, err
			}
			return []raw.Tensor{h}, m.imageLogits(a, h), nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("hf: janus image generation step %d: %w", step, err)
		}
		if lg, err = dec.Logits(lg); err != nil {
			return nil, nil, fmt.Errorf("hf: janus image generation step %d: %w", step, err)
		}
		for b := range B {
			cond, uncond := lg[b*K:(b+1)*K], lg[(B+b)*K:(B+b+1)*K]
			for k := range K {
				// uncond + (cond - uncond) * scale in float32, rounded as torch does (no fused
				// multiply-add: the conversion rounds the product).
				mixed[k] = uncond[k] + float32((cond[k]-uncond[k])*s)
			}
			var rng *rand.Rand
			if !o.Greedy {
				rng = rngs[b]
			}
			code, lp := pick.Choose(mixed, temp, o.TopK, 0, o.Greedy, rng, -1)
			out[b] = append(out[b], code)
			logp[b] = append(logp[b], float32(lp))
			for _, r := range []int{b, B + b} {
				in.IDs[r], in.Codes[r], in.Pos[r] = []int{0}, []int{code}, []int{next[b]}
				in.Mask[r] = append(in.Mask[r], 1)
			}
			next[b]++
		}
	}
	return out, logp, nil
}

// check validates the guidance scale and the temperature.
func (o ImageGenOptions) check() error {
	switch {
	case math.IsNaN(o.Scale) || math.IsInf(o.Scale, 0):
		return fmt.Errorf("hf: janus image generation: guidance scale %v", o.Scale)
	case !o.Greedy && !(o.Temperature > 0):
		return fmt.Errorf("hf: janus image generation: temperature %v must be positive", o.Temperature)
	}
	return nil
}

// guidedBatch lays out B drawing prompts as guidance runs them, 2B rows of T positions: row b is
// prompt b, row B+b its unconditional twin (every token but BOS and BOI replaced by PAD, which
// the row attends to), both left-padded with masked PAD and positioned from 0 at the prompt's
// first token. Codes is -1 everywhere (no code yet).
func (m *Model) guidedBatch(prompts [][]int, T int) Batch {
	c := m.cfg
	B := len(prompts)
	in := Batch{IDs: make([][]int, 2*B), Codes: make([][]int, 2*B), Pos: make([][]int, 2*B), Mask: make([][]int, 2*B)}
	for b, p := range prompts {
		pad := T - len(p)
		for _, r := range []int{b, B + b} {
			in.IDs[r], in.Codes[r], in.Pos[r], in.Mask[r] = make([]int, T), make([]int, T), make([]int, T), make([]int, T)
			for t := range T {
				in.IDs[r][t], in.Codes[r][t], in.Pos[r][t] = c.PAD, -1, 1
				if t < pad {
					continue
				}
				id := p[t-pad]
				if r >= B && id != c.BOS && id != c.BOI {
					id = c.PAD
				}
				in.IDs[r][t], in.Pos[r][t], in.Mask[r][t] = id, t-pad, 1
			}
		}
	}
	return in
}

// codesTensor checks B rows of G*G codes and puts them on the device as int64 [B, G*G].
func (m *Model) codesTensor(a *raw.Arena, codes [][]int) (raw.Tensor, error) {
	n := m.cfg.Vision.Tokens
	if len(codes) == 0 {
		return nil, fmt.Errorf("hf: janus: no image codes")
	}
	flat := make([]int64, 0, len(codes)*n)
	for i, row := range codes {
		if len(row) != n {
			return nil, fmt.Errorf("hf: janus: image %d has %d codes, not %d", i, len(row), n)
		}
		for _, k := range row {
			if k < 0 || k >= m.cfg.VQ.NumEmbeddings {
				return nil, fmt.Errorf("hf: janus: image %d: code %d outside the codebook of %d", i, k, m.cfg.VQ.NumEmbeddings)
			}
			flat = append(flat, int64(k))
		}
	}
	return a.FromInt64(flat, int64(len(codes)), int64(n)), nil
}

// DecodeCodes decodes B images of G*G codes (raster order) with the VQ-VAE: pixels
// [B, 3, S, S] in [-1, 1] (as trained; not clamped), S = G times the VQ-VAE's upsampling.
func (m *Model) DecodeCodes(codes [][]int) ([]float32, error) {
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	ct, err := m.codesTensor(a, codes)
	if err != nil {
		return nil, err
	}
	G := int64(m.cfg.Vision.Grid())
	px := a.To(m.vq.decode(a, m.vq.embedCodes(a, ct, G, G)), raw.Float32)
	sh := a.Shape(px)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: janus decode: %w", err)
	}
	out := make([]float32, hf.Numel(sh))
	a.CopyToFloat32(a.Contiguous(px), out)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: janus decode: %w", err)
	}
	return out, nil
}

// EncodeCodes quantizes B images of pixels [B, 3, S, S] (in [-1, 1], S the VQ-VAE's input side)
// to their codes [B][h*w] (raster order): the targets of the generation path.
func (m *Model) EncodeCodes(pixels []float32, B int) ([][]int, error) {
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	if B < 1 || len(pixels) == 0 || len(pixels)%(3*B) != 0 {
		return nil, fmt.Errorf("hf: janus encode: %d pixel values are not %d RGB images", len(pixels), B)
	}
	S := int64(math.Round(math.Sqrt(float64(len(pixels) / (3 * B)))))
	if int(S*S)*3*B != len(pixels) {
		return nil, fmt.Errorf("hf: janus encode: %d pixel values are not %d square RGB images", len(pixels), B)
	}
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	z := m.vq.encode(a, a.To(a.FromFloat32(pixels, int64(B), 3, S, S), m.lm.Kind()))
	_, codes, _ := m.vq.quantize(a, z)
	return codeRows(a, codes, B)
}
