package janus

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Training Janus's image tokenizer. transformers' quantizer (quantize) matches the raw latent to
// the raw codebook, but its decoding of generated codes (embedCodes) l2-normalises the codebook
// rows: Janus's tokenizer was trained with l2-normalised latents and codebook, and only that
// makes the two agree. A tokenizer trained here therefore quantises the way it decodes:
//
//	u = z / |z|, c_k = e_k / |e_k|,  code = argmax_k u.c_k,  zq = c_code
//
// so that decode(zq) of training is exactly DecodeCodes of the same codes, and generation draws
// the images the tokenizer learned.

// quantizeL2 quantises z [B, E, h, w] against the normalised codebook: zq (straight-through:
// values of c_code, gradient to u), codes int64 [B, h*w] and the embedding loss
// mean((c.detach() - u)^2) * beta + mean((c - u.detach())^2) (commitment, then codebook).
func (q *vqModel) quantizeL2(a *raw.Arena, z raw.Tensor) (zq, codes, loss raw.Tensor) {
	shape := a.Shape(z)
	if a.Err() != nil {
		return nil, nil, nil
	}
	B, E, h, w := shape[0], shape[1], shape[2], shape[3]
	cb := a.L2Normalize(q.t(a, "quantize.embedding.weight"), 1, 1e-12) // [K, E]
	u := a.L2Normalize(a.Contiguous(a.Permute(a.To(z, raw.Float32), 0, 2, 3, 1)), -1, 1e-12)
	flat := a.View(u, B*h*w, E)
	idx := a.Argmin(a.Neg(a.Matmul(flat, a.Transpose(cb, 0, 1))), 1) // the nearest unit vector
	c := a.View(a.Embedding(cb, idx), B, h, w, E)
	loss = a.Add(a.MulScalar(a.Mean(a.Square(a.Sub(a.Detach(c), u))), vqBeta),
		a.Mean(a.Square(a.Sub(c, a.Detach(u)))))
	// c + (u - u.detach()): exactly c's values (u + (c - u).detach() is off by a rounding, which
	// the decoder's GroupNorms amplify), the gradient of u.
	st := a.Add(a.Detach(c), a.Sub(u, a.Detach(u)))
	return a.Contiguous(a.Permute(st, 0, 3, 1, 2)), a.View(idx, B, h*w), loss
}

// EncodeImages quantises images to their codes [B][n] (raster order), the targets of the
// generation direction, as quantizeL2 does.
func (p *Policy) EncodeImages(imgs []images.Planar) ([][]int, error) {
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	m := p.Model
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	px, err := p.pixels(a, imgs)
	if err != nil {
		return nil, fmt.Errorf("hf: janus encode: %w", err)
	}
	_, codes, _ := m.vq.quantizeL2(a, m.vq.encode(a, px))
	return codeRows(a, codes, len(imgs))
}

// codeRows copies codes int64 [B, n] to the host.
func codeRows(a *raw.Arena, codes raw.Tensor, B int) ([][]int, error) {
	sh := a.Shape(codes)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: janus encode: %w", err)
	}
	vals := make([]float32, hf.Numel(sh)) // codes < 2^24 are exact in float32
	a.CopyToFloat32(a.Contiguous(a.To(codes, raw.Float32)), vals)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: janus encode: %w", err)
	}
	n := len(vals) / B
	out := make([][]int, B)
	for b := range out {
		out[b] = make([]int, n)
		for i, v := range vals[b*n : (b+1)*n] {
			out[b][i] = int(v)
		}
	}
	return out, nil
}

// VQLoss is the image tokenizer's training loss on images: the mean squared reconstruction error
// in [-1, 1] pixels plus the embedding loss of quantizeL2, with an autograd graph through the
// VQ-VAE's weights that train.
func (p *Policy) VQLoss(imgs []images.Planar) (*ts.Tensor, error) {
	m := p.Model
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	px, err := p.pixels(a, imgs)
	if err != nil {
		return nil, fmt.Errorf("hf: janus VQ loss: %w", err)
	}
	zq, _, emb := m.vq.quantizeL2(a, m.vq.encode(a, px))
	rec := a.To(m.vq.decode(a, zq), raw.Float32)
	loss := a.Keep(a.Add(a.Mean(a.Square(a.Sub(rec, px))), emb))
	if err := a.Free(); err != nil {
		if loss != nil {
			loss.MustDrop()
		}
		return nil, fmt.Errorf("hf: janus VQ loss: %w", err)
	}
	return loss, nil
}

// Reconstruct encodes images to codes and decodes them: what the tokenizer keeps of each image,
// with its codes.
func (p *Policy) Reconstruct(imgs []images.Planar) ([]images.Planar, [][]int, error) {
	codes, err := p.EncodeImages(imgs)
	if err != nil {
		return nil, nil, err
	}
	rec, err := p.DecodeImages(codes)
	return rec, codes, err
}
