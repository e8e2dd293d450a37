package hf

import "github.com/unigrpo/unigrpo/internal/raw"

// EncoderConfig is the shape of an Encoder.
type EncoderConfig struct {
	D, H  int     // width, attention heads
	Patch int     // the patch side in pixels
	Grid  int     // the side of the patch grid the position embeddings were trained for
	Eps   float64 // the LayerNorms' epsilon
	Act   string  // the MLP's activation (one KnownActivation accepts)
}

// Encoder is the body of a pre-norm vision transformer, shared by the vision encoders (package
// vit) and Janus's understanding tower: patch embedding (a strided convolution in float32),
// position embeddings (and a class token for CLIP and DINOv2), CLIP's LayerNorm before the
// layers, then layers of LayerNorm, multi-head self-attention, LayerNorm and MLP, each branch
// scaled by its layer scale where DINOv2 has one. The final norm and the pooling are the
// family's. Its weights are owned by the family's arena.
type Encoder struct {
	Cfg            EncoderConfig
	Kind           raw.Kind   // the dtype of weights and activations
	PatchW, PatchB raw.Tensor // [D, C, P, P], [D] (nil: no bias): float32
	Cls            raw.Tensor // [1, 1, D]: the class token; nil for none
	Pos            raw.Tensor // [1, T, D] at the trained grid
	PreNorm        *LayerNorm // CLIP's pre_layrnorm; nil for none
	Layers         []EncoderLayer
}

// EncoderLayer is the weights of one encoder layer.
type EncoderLayer struct {
	LN1, LN2   LayerNorm
	Q, K, V, O Linear
	FC1, FC2   Linear
	LS1, LS2   raw.Tensor // DINOv2's layer scales [D]; nil for the other families
}

// Tokens is T, the tokens of an image of G x G patches: G*G, and the class token.
func (e *Encoder) Tokens(G int64) int64 {
	if e.Cls != nil {
		return G*G + 1
	}
	return G * G
}

// Forward runs pixels px [B, C, S, S] (float32, on the arena's device) through the encoder in
// arena a and returns its hidden states, Layers+1 tensors [B, T, D]: what the first layer reads
// (CLIP: after pre_layrnorm; the others: the embeddings), then the output of each layer, before
// any final norm, as transformers' hidden_states.
func (e *Encoder) Forward(a *raw.Arena, px raw.Tensor, B, S int64) []raw.Tensor {
	x := e.Embed(a, px, B, S)
	T := e.Tokens(S / int64(e.Cfg.Patch))
	hidden := []raw.Tensor{x}
	for i := range e.Layers {
		x = e.Layer(a, i, x, B, T)
		hidden = append(hidden, x)
	}
	return hidden
}

// Embed is what the first layer reads of pixels px [B, C, S, S] (float32, on the arena's
// device): the patch embedding, the class token, the position embeddings and CLIP's
// pre_layrnorm, [B, T, D] in the encoder's kind. Forward is Embed, then each Layer; a caller that
// keeps only the last hidden state may run each step in an arena of its own (the batched
// embedders of package vit do, so that one layer's activations are live at a time).
func (e *Encoder) Embed(a *raw.Arena, px raw.Tensor, B, S int64) raw.Tensor {
	D, P := int64(e.Cfg.D), int64(e.Cfg.Patch)
	G := S / P
	x := a.Conv2d(px, e.PatchW, e.PatchB, P, 0)                  // [B, D, G, G]
	x = a.To(a.Transpose(a.Reshape(x, B, D, G*G), 1, 2), e.Kind) // [B, N, D]
	if e.Cls != nil {
		x = a.Cat(1, a.Expand(e.Cls, B, 1, D), x)
	}
	x = a.Add(x, e.positions(a, G))
	if e.PreNorm != nil {
		x = e.Norm(a, x, *e.PreNorm)
	}
	return x
}

// Layer runs encoder layer i on x [B, T, D]: [B, T, D].
func (e *Encoder) Layer(a *raw.Arena, i int, x raw.Tensor, B, T int64) raw.Tensor {
	return e.layer(a, &e.Layers[i], x, B, T)
}

// positions returns the position embeddings [1, T, D] for a G x G patch grid. They are
// interpolated from the trained grid when G differs (DINOv2 alone reads other sides), as
// transformers' interpolate_pos_encoding: the patch positions as a G0 x G0 image, bicubic
// (align_corners false, no antialiasing) in float32, the class token's position kept.
func (e *Encoder) positions(a *raw.Arena, G int64) raw.Tensor {
	G0 := int64(e.Cfg.Grid)
	if G == G0 {
		return e.Pos
	}
	D := int64(e.Cfg.D)
	cp := a.Narrow(e.Pos, 1, 0, 1)
	pp := a.Permute(a.Reshape(a.Narrow(e.Pos, 1, 1, G0*G0), 1, G0, G0, D), 0, 3, 1, 2) // [1, D, G0, G0]
	pp = a.UpsampleBicubic2d(a.To(pp, raw.Float32), G, G, false)
	pp = a.Reshape(a.Permute(a.To(pp, e.Kind), 0, 2, 3, 1), 1, G*G, D)
	return a.Cat(1, cp, pp)
}

// layer is one encoder layer: x + s1*attn(norm1(x)), then + s2*mlp(norm2(.)) (s1, s2 DINOv2's
// layer scales).
func (e *Encoder) layer(a *raw.Arena, w *EncoderLayer, x raw.Tensor, B, T int64) raw.Tensor {
	h := e.Norm(a, x, w.LN1)
	o := e.Attention(a, h, h, w.Q, w.K, w.V, w.O, B, T, T)
	if w.LS1 != nil {
		o = a.Mul(o, w.LS1)
	}
	x = a.Add(x, o)
	m := e.MLP(a, e.Norm(a, x, w.LN2), w.FC1, w.FC2)
	if w.LS2 != nil {
		m = a.Mul(m, w.LS2)
	}
	return a.Add(x, m)
}

// Attention is multi-head attention of Tq queries from xq [B, Tq, D] over Tk keys and values
// from xkv [B, Tk, D], with the output projection: [B, Tq, D].
func (e *Encoder) Attention(a *raw.Arena, xq, xkv raw.Tensor, q, k, v, o Linear, B, Tq, Tk int64) raw.Tensor {
	H := int64(e.Cfg.H)
	Dh := int64(e.Cfg.D) / H
	heads := func(x raw.Tensor, l Linear, T int64) raw.Tensor { // [B, H, T, Dh]
		return a.Transpose(a.View(a.Linear(x, l.W, l.B), B, T, H, Dh), 1, 2)
	}
	y := Attend(a, heads(xq, q, Tq), heads(xkv, k, Tk), heads(xkv, v, Tk), nil, e.Kind, Dh)
	y = a.Reshape(a.Transpose(y, 1, 2), B, Tq, H*Dh)
	return a.Linear(y, o.W, o.B)
}

// MLP is fc2(act(fc1(x))).
func (e *Encoder) MLP(a *raw.Arena, x raw.Tensor, fc1, fc2 Linear) raw.Tensor {
	return a.Linear(Activation(a, e.Cfg.Act, a.Linear(x, fc1.W, fc1.B)), fc2.W, fc2.B)
}

// Norm is LayerNorm over the last dimension, in float32, returned in the encoder's kind.
func (e *Encoder) Norm(a *raw.Arena, x raw.Tensor, n LayerNorm) raw.Tensor {
	return a.To(a.LayerNorm(a.To(x, raw.Float32), n.W, n.B, int64(e.Cfg.D), e.Cfg.Eps), e.Kind)
}
