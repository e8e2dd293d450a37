package janus

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Janus's image tokenizer: the VQ-VAE of transformers' JanusVQVAE (a VQGAN in the layout of
// LlamaGen's VQ-16). This file holds its tensors (loaded from a checkpoint or drawn at random)
// and their names; vq_config.go its config, vq_blocks.go runs it, vq_train.go trains it.
//
// Shapes: B images, C image channels, S image side, E embed_dim (codebook width), K
// num_embeddings (codebook size), L latent_channels, h, w the latent grid (S / 2^(levels-1)).

// vqModel is the VQ-VAE's tensors, under transformers' JanusVQVAE names without the checkpoint
// prefix ("encoder.conv_in.weight", "quantize.embedding.weight", ...). GroupNorm parameters and
// the codebook are float32; convolutions are in kind.
type vqModel struct {
	cfg  VQConfig
	kind raw.Kind
	w    map[string]raw.Tensor
}

// vqRole says how a tensor is initialised (transformers' _init_weights).
type vqRole uint8

const (
	vqConvWeight vqRole = iota // N(0, initializer_range)
	vqBias                     // 0
	vqNormWeight               // 1
	vqNormBias                 // 0
	vqCodebook                 // N(0, initializer_range)
)

// vqParam is one tensor the config implies.
type vqParam struct {
	name  string // without the checkpoint prefix
	shape []int64
	role  vqRole
}

// vqParams lists the tensors of a VQ-VAE of config c, in the order of transformers'
// state_dict.
func vqParams(c VQConfig) []vqParam {
	var ps []vqParam
	conv := func(name string, out, in, k int) {
		ps = append(ps, vqParam{name + ".weight", []int64{int64(out), int64(in), int64(k), int64(k)}, vqConvWeight},
			vqParam{name + ".bias", []int64{int64(out)}, vqBias})
	}
	norm := func(name string, ch int) {
		ps = append(ps, vqParam{name + ".weight", []int64{int64(ch)}, vqNormWeight},
			vqParam{name + ".bias", []int64{int64(ch)}, vqNormBias})
	}
	resnet := func(p string, in, out int) {
		norm(p+".norm1", in)
		conv(p+".conv1", out, in, 3)
		norm(p+".norm2", out)
		conv(p+".conv2", out, out, 3)
		if in != out {
			conv(p+".nin_shortcut", out, in, 1)
		}
	}
	attn := func(p string, ch int) {
		norm(p+".norm", ch)
		for _, n := range []string{"q", "k", "v", "proj_out"} {
			conv(p+"."+n, ch, ch, 1)
		}
	}
	mid := func(p string, ch int) {
		resnet(p+".block_1", ch, ch)
		attn(p+".attn_1", ch)
		resnet(p+".block_2", ch, ch)
	}
	base, mult, n := c.BaseChannels, c.ChannelMultiplier, len(c.ChannelMultiplier)
	// Encoder: level l reads base*inMult[l] channels, inMult = (1, mult...).
	conv("encoder.conv_in", base, c.InChannels, 3)
	ch := base
	for l := range n {
		if l > 0 {
			ch = base * mult[l-1]
		}
		for b := range c.NumResBlocks {
			resnet(fmt.Sprintf("encoder.down.%d.block.%d", l, b), ch, base*mult[l])
			ch = base * mult[l]
			if l == n-1 {
				attn(fmt.Sprintf("encoder.down.%d.attn.%d", l, b), ch)
			}
		}
		if l != n-1 {
			conv(fmt.Sprintf("encoder.down.%d.downsample.conv", l), ch, ch, 3)
		}
	}
	mid("encoder.mid", ch)
	norm("encoder.norm_out", ch)
	conv("encoder.conv_out", c.LatentChannels, ch, 3)
	ps = append(ps, vqParam{"quantize.embedding.weight", []int64{int64(c.NumEmbeddings), int64(c.EmbedDim)}, vqCodebook})
	conv("quant_conv", c.EmbedDim, c.LatentChannels, 1)
	conv("post_quant_conv", c.LatentChannels, c.EmbedDim, 1)
	// Decoder: up[i] is level n-1-i (coarsest first); n-1 upsamplings.
	ch = base * mult[n-1]
	conv("decoder.conv_in", ch, c.LatentChannels, 3)
	mid("decoder.mid", ch)
	for i := range n {
		l := n - 1 - i
		for b := range c.NumResBlocks + 1 {
			resnet(fmt.Sprintf("decoder.up.%d.block.%d", i, b), ch, base*mult[l])
			ch = base * mult[l]
			if l == n-1 {
				attn(fmt.Sprintf("decoder.up.%d.attn.%d", i, b), ch)
			}
		}
		if l != 0 {
			conv(fmt.Sprintf("decoder.up.%d.upsample.conv", i), ch, ch, 3)
		}
	}
	norm("decoder.norm_out", ch)
	conv("decoder.conv_out", c.OutChannels, ch, 3)
	return ps
}

// kindOf is the dtype a tensor of the role is kept in: GroupNorm parameters and the codebook
// in float32 (norms and code distances run in float32), the rest in the model's kind.
func (r vqRole) kindOf(kind raw.Kind) raw.Kind {
	if r == vqNormWeight || r == vqNormBias || r == vqCodebook {
		return raw.Float32
	}
	return kind
}

// loadVQ loads the VQ-VAE of config cfg from ws, its tensors under prefix (a Janus
// checkpoint's "model.vqmodel."), into arena a (which owns them) with convolutions in kind.
// Every tensor the config implies must be present with its shape; each one loaded is recorded
// in names (under its full name, prefix included) and appended to order. Tensors of ws the
// config does not imply are not looked at: the caller checks ws against names.
func loadVQ(ws *hf.Weights, a *raw.Arena, prefix string, cfg VQConfig, kind raw.Kind, names map[string]raw.Tensor, order *[]string) (*vqModel, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("hf: vq_config: %w", err)
	}
	q := &vqModel{cfg: cfg, kind: kind, w: map[string]raw.Tensor{}}
	for _, p := range vqParams(cfg) {
		full := prefix + p.name
		t, err := ws.Load(a, full, p.role.kindOf(kind), p.shape...)
		if err != nil {
			return nil, err
		}
		q.w[p.name] = t
		names[full] = t
		*order = append(*order, full)
	}
	return q, nil
}

// initVQ draws a VQ-VAE of config cfg at random for training from scratch, as
// transformers' JanusPreTrainedModel._init_weights: convolution weights and the codebook ~
// N(0, initializer_range), biases 0, GroupNorm weights 1 and biases 0. The values come from a
// PCG generator seeded with seed, so they are the same on every run and device. Tensors are
// float32, owned by a, recorded in names and order under prefix + name, and do not require
// grad (the caller marks those that train). In a whole Janus model transformers draws with the
// vision tower's initializer_range; set cfg.InitializerRange to it for the same scale.
func initVQ(a *raw.Arena, prefix string, cfg VQConfig, seed uint64, names map[string]raw.Tensor, order *[]string) *vqModel {
	q := &vqModel{cfg: cfg, kind: raw.Float32, w: map[string]raw.Tensor{}}
	rng := rand.New(rand.NewPCG(seed, 0x4a616e7573565121)) // "JanusVQ!"
	std := cfg.InitializerRange
	for _, p := range vqParams(cfg) {
		n := 1
		for _, d := range p.shape {
			n *= int(d)
		}
		vals := make([]float32, n)
		switch p.role {
		case vqConvWeight, vqCodebook:
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * std)
			}
		case vqNormWeight:
			for i := range vals {
				vals[i] = 1
			}
		}
		t := a.FromFloat32(vals, p.shape...)
		q.w[p.name] = t
		names[prefix+p.name] = t
		*order = append(*order, prefix+p.name)
	}
	return q
}

// t returns the tensor of a name without the prefix; a missing one (a bug in the forward pass's
// names) fails the arena.
func (q *vqModel) t(a *raw.Arena, name string) raw.Tensor {
	x, ok := q.w[name]
	if !ok {
		a.Fail(fmt.Errorf("hf: janus VQ-VAE has no tensor %s", name))
	}
	return x
}

// has reports whether the VQ-VAE has a tensor of the name (an optional shortcut).
func (q *vqModel) has(name string) bool {
	_, ok := q.w[name]
	return ok
}
