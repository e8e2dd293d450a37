package janus

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// The Janus VQ-VAE's forward passes (tensors and names in vq.go). Every operation goes
// through the arena, so autograd records it; errors stay in the arena (check a.Err()).
// Shapes: B images, S image side, E embed_dim, K num_embeddings, L latent_channels, h, w the
// latent grid, Ch a block's channel count.

// encode runs the encoder and quant_conv: pixels px [B, C, S, S] (in [-1, 1], the Janus image
// processor's range) to the pre-quantisation latent z [B, E, h, w].
func (q *vqModel) encode(a *raw.Arena, px raw.Tensor) raw.Tensor {
	c := q.cfg
	n := len(c.ChannelMultiplier)
	x := q.conv(a, px, "encoder.conv_in", 1, 1)
	for l := range n {
		for b := range c.NumResBlocks {
			x = q.resnet(a, x, fmt.Sprintf("encoder.down.%d.block.%d", l, b))
			if l == n-1 {
				x = q.attn(a, x, fmt.Sprintf("encoder.down.%d.attn.%d", l, b))
			}
		}
		if l != n-1 {
			// Zero-pad one column right and one row below, then a 3x3 convolution of stride 2.
			x = q.conv(a, a.ConstantPad(x, 0, 1, 0, 1), fmt.Sprintf("encoder.down.%d.downsample.conv", l), 2, 0)
		}
	}
	x = q.mid(a, x, "encoder.mid")
	x = q.conv(a, q.swish(a, q.norm(a, x, "encoder.norm_out")), "encoder.conv_out", 1, 1)
	return q.conv(a, x, "quant_conv", 1, 0)
}

// quantize replaces every latent vector of z [B, E, h, w] by its nearest codebook row (squared
// Euclidean distance, no normalisation, as transformers' JanusVQVAEVectorQuantizer.forward).
// It returns zq = z + (e - z).detach() [B, E, h, w] (the straight-through estimator: values of
// the codebook rows e, gradient of z), codes int64 [B, h*w] in raster order, and the embedding
// loss mean((e.detach() - z)^2) + 0.25 * mean((e - z.detach())^2), a 0-d tensor whose first
// term trains the encoder and second the codebook (transformers' weighting).
func (q *vqModel) quantize(a *raw.Arena, z raw.Tensor) (zq, codes, loss raw.Tensor) {
	shape := a.Shape(z)
	if a.Err() != nil {
		return nil, nil, nil
	}
	if len(shape) != 4 || shape[1] != int64(q.cfg.EmbedDim) {
		a.Fail(fmt.Errorf("hf: janus VQ-VAE quantize: latent of shape %v, want [B, %d, h, w]", shape, q.cfg.EmbedDim))
		return nil, nil, nil
	}
	B, E, h, w := shape[0], shape[1], shape[2], shape[3]
	cb := q.t(a, "quantize.embedding.weight") // [K, E] float32
	zp := a.Contiguous(a.Permute(z, 0, 2, 3, 1))
	flat := a.View(zp, B*h*w, E)
	f := flat
	if q.kind != raw.Float32 {
		f = a.To(flat, raw.Float32)
	}
	// ||z||^2 + ||e||^2 - 2 z.e: [B*h*w, K]
	dist := a.Add(a.SumDim(a.Square(f), 1, true), a.SumDim(a.Square(cb), 1, false))
	dist = a.Sub(dist, a.MulScalar(a.Matmul(f, a.Transpose(cb, 0, 1)), 2))
	idx := a.Argmin(dist, 1) // [B*h*w]
	e := a.Embedding(cb, idx)
	if q.kind != raw.Float32 {
		e = a.To(e, q.kind)
	}
	e = a.View(e, B, h, w, E)
	loss = a.Add(a.Mean(a.Square(a.Sub(a.Detach(e), zp))),
		a.MulScalar(a.Mean(a.Square(a.Sub(e, a.Detach(zp)))), vqBeta))
	zqp := a.Add(zp, a.Detach(a.Sub(e, zp)))
	zq = a.Contiguous(a.Permute(zqp, 0, 3, 1, 2))
	return zq, a.View(idx, B, h*w), loss
}

// decode runs post_quant_conv and the decoder: a quantised latent zq [B, E, h, w] to pixels
// [B, out_channels, S, S] with S = h * 2^(levels-1).
func (q *vqModel) decode(a *raw.Arena, zq raw.Tensor) raw.Tensor {
	c := q.cfg
	n := len(c.ChannelMultiplier)
	x := q.conv(a, zq, "post_quant_conv", 1, 0)
	x = q.conv(a, x, "decoder.conv_in", 1, 1)
	x = q.mid(a, x, "decoder.mid")
	for i := range n { // up[i] is level n-1-i, coarsest first
		for b := range c.NumResBlocks + 1 {
			x = q.resnet(a, x, fmt.Sprintf("decoder.up.%d.block.%d", i, b))
			if i == 0 {
				x = q.attn(a, x, fmt.Sprintf("decoder.up.%d.attn.%d", i, b))
			}
		}
		if i != n-1 {
			x = q.conv(a, a.UpsampleNearest2x(x), fmt.Sprintf("decoder.up.%d.upsample.conv", i), 1, 1)
		}
	}
	return q.conv(a, q.swish(a, q.norm(a, x, "decoder.norm_out")), "decoder.conv_out", 1, 1)
}

// embedCodes looks token ids codes (int64 [B, h*w], raster order) up in the codebook and
// l2-normalises each row, as transformers' get_codebook_entry (which decode_image_tokens and
// JanusVQVAE.decode use): the latent [B, E, h, w] that decode turns into pixels. Note that
// quantize's zq holds the raw rows, so decode(zq) and decode(embedCodes(codes)) differ unless
// the codebook rows have unit norm.
func (q *vqModel) embedCodes(a *raw.Arena, codes raw.Tensor, h, w int64) raw.Tensor {
	shape := a.Shape(codes)
	if a.Err() != nil {
		return nil
	}
	if len(shape) != 2 || shape[1] != h*w {
		a.Fail(fmt.Errorf("hf: janus VQ-VAE: codes of shape %v, want [B, %d] for a %dx%d grid", shape, h*w, h, w))
		return nil
	}
	e := a.L2Normalize(a.Embedding(q.t(a, "quantize.embedding.weight"), codes), -1, 1e-12) // [B, h*w, E]
	if q.kind != raw.Float32 {
		e = a.To(e, q.kind)
	}
	e = a.View(e, shape[0], h, w, int64(q.cfg.EmbedDim))
	return a.Contiguous(a.Permute(e, 0, 3, 1, 2))
}

// conv applies the convolution name (weight [out, in, k, k] and bias) with the given stride
// and symmetric zero padding.
func (q *vqModel) conv(a *raw.Arena, x raw.Tensor, name string, stride, pad int64) raw.Tensor {
	return a.Conv2d(x, q.t(a, name+".weight"), q.t(a, name+".bias"), stride, pad)
}

// norm is the GroupNorm name (32 groups, eps 1e-6), run in float32, returned in the model's
// kind.
func (q *vqModel) norm(a *raw.Arena, x raw.Tensor, name string) raw.Tensor {
	w, b := q.t(a, name+".weight"), q.t(a, name+".bias")
	if q.kind == raw.Float32 {
		return a.GroupNorm(x, w, b, vqGroups, vqNormEps)
	}
	return a.To(a.GroupNorm(a.To(x, raw.Float32), w, b, vqGroups, vqNormEps), q.kind)
}

// swish is x * sigmoid(x), written as transformers writes it.
func (q *vqModel) swish(a *raw.Arena, x raw.Tensor) raw.Tensor {
	return a.Mul(x, a.Sigmoid(x))
}

// resnet is a residual block p: norm1, swish, conv1 (3x3), norm2, swish, conv2 (3x3), plus the
// input, through the 1x1 nin_shortcut when the block changes the channel count. Dropout (the
// config's, between norm2 and conv2) is not applied: the VQ-VAE runs in eval mode.
func (q *vqModel) resnet(a *raw.Arena, x raw.Tensor, p string) raw.Tensor {
	y := q.conv(a, q.swish(a, q.norm(a, x, p+".norm1")), p+".conv1", 1, 1)
	y = q.conv(a, q.swish(a, q.norm(a, y, p+".norm2")), p+".conv2", 1, 1)
	skip := x
	if q.has(p + ".nin_shortcut.weight") {
		skip = q.conv(a, x, p+".nin_shortcut", 1, 0)
	}
	return a.Add(skip, y)
}

// attn is a single-head self-attention block p over the h*w positions of x [B, Ch, h, w]:
// GroupNorm, 1x1 convolutions q, k, v, softmax(q^T k / sqrt(Ch)) over the keys, proj_out, plus
// the input.
func (q *vqModel) attn(a *raw.Arena, x raw.Tensor, p string) raw.Tensor {
	shape := a.Shape(x)
	if a.Err() != nil {
		return nil
	}
	B, C, H, W := shape[0], shape[1], shape[2], shape[3]
	n := q.norm(a, x, p+".norm")
	qs := a.Permute(a.Reshape(q.conv(a, n, p+".q", 1, 0), B, C, H*W), 0, 2, 1) // [B, hw, Ch]
	ks := a.Reshape(q.conv(a, n, p+".k", 1, 0), B, C, H*W)                     // [B, Ch, hw]
	vs := a.Reshape(q.conv(a, n, p+".v", 1, 0), B, C, H*W)                     // [B, Ch, hw]
	att := a.Softmax(a.MulScalar(a.Matmul(qs, ks), math.Pow(float64(C), -0.5)), 2)
	o := a.Reshape(a.Matmul(vs, a.Permute(att, 0, 2, 1)), B, C, H, W)
	return a.Add(x, q.conv(a, o, p+".proj_out", 1, 0))
}

// mid is a middle block p: resnet block_1, attention attn_1, resnet block_2.
func (q *vqModel) mid(a *raw.Arena, x raw.Tensor, p string) raw.Tensor {
	x = q.resnet(a, x, p+".block_1")
	x = q.attn(a, x, p+".attn_1")
	return q.resnet(a, x, p+".block_2")
}
