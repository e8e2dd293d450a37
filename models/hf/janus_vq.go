package hf

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Janus's image tokenizer: the VQ-VAE of transformers' JanusVQVAE (a VQGAN in the layout of
// LlamaGen's VQ-16). This file holds its config, its tensors (loaded from a checkpoint or drawn
// at random) and their names; janus_vq_blocks.go runs it.
//
// Shapes: B images, C image channels, S image side, E embed_dim (codebook width), K
// num_embeddings (codebook size), L latent_channels, h, w the latent grid (S / 2^(levels-1)).

// janusVQGroups is the group count of every GroupNorm of the VQ-VAE (fixed in transformers).
const janusVQGroups = 32

// janusVQNormEps is the epsilon of every GroupNorm of the VQ-VAE.
const janusVQNormEps = 1e-6

// janusVQBeta weighs the codebook term of the embedding loss (transformers reads an optional
// config attribute beta that JanusVQVAEConfig never sets, so it is always 0.25).
const janusVQBeta = 0.25

// JanusVQConfig is the vq_config of a Janus config.json (transformers' JanusVQVAEConfig), with
// its JSON names. ProjectionDim, NumHiddenLayers, HiddenAct and ImageTokenEmbedDim shape the
// generation aligner and head, which are not part of the VQ-VAE itself.
type JanusVQConfig struct {
	EmbedDim           int     `json:"embed_dim"`       // E
	NumEmbeddings      int     `json:"num_embeddings"`  // K
	DoubleLatent       bool    `json:"double_latent"`   // must be false (see check)
	LatentChannels     int     `json:"latent_channels"` // L
	NumPatches         int     `json:"num_patches"`     // the grid side that decoding token ids assumes
	InChannels         int     `json:"in_channels"`
	OutChannels        int     `json:"out_channels"`
	BaseChannels       int     `json:"base_channels"`
	ChannelMultiplier  []int   `json:"channel_multiplier"` // one per resolution level
	NumResBlocks       int     `json:"num_res_blocks"`
	Dropout            float64 `json:"dropout"` // not applied: the VQ-VAE runs in eval mode
	InitializerRange   float64 `json:"initializer_range"`
	ProjectionDim      int     `json:"projection_dim"`
	NumHiddenLayers    int     `json:"num_hidden_layers"`
	HiddenAct          string  `json:"hidden_act"`
	ImageTokenEmbedDim int     `json:"image_token_embed_dim"`
}

// defaultJanusVQConfig returns transformers' JanusVQVAEConfig defaults.
func defaultJanusVQConfig() JanusVQConfig {
	return JanusVQConfig{
		EmbedDim: 8, NumEmbeddings: 16384, LatentChannels: 256, NumPatches: 32,
		InChannels: 3, OutChannels: 3, BaseChannels: 128, ChannelMultiplier: []int{1, 1, 2, 2, 4},
		NumResBlocks: 2, InitializerRange: 0.02, ProjectionDim: 2048, NumHiddenLayers: 2,
		HiddenAct: "gelu", ImageTokenEmbedDim: 2048,
	}
}

// parseJanusVQConfig reads a vq_config object (the value of "vq_config" in a Janus
// config.json, not the whole file), filling absent fields with transformers' defaults (all of
// them for empty or null input), and checks it. Note that transformers' JanusConfig overwrites num_patches with the vision tower's
// image_size / patch_size; a caller holding the whole config should do the same.
func parseJanusVQConfig(js []byte) (JanusVQConfig, error) {
	c := defaultJanusVQConfig()
	if t := strings.TrimSpace(string(js)); t == "" || t == "null" {
		return c, nil // no vq_config: transformers' JanusConfig uses the defaults
	}
	c.ChannelMultiplier = nil
	if err := json.Unmarshal(js, &c); err != nil {
		return JanusVQConfig{}, fmt.Errorf("vq_config: %v", err)
	}
	if c.ChannelMultiplier == nil {
		c.ChannelMultiplier = defaultJanusVQConfig().ChannelMultiplier
	}
	if err := c.check(); err != nil {
		return JanusVQConfig{}, fmt.Errorf("vq_config: %w", err)
	}
	return c, nil
}

// check names the first value the VQ-VAE cannot be built with.
func (c JanusVQConfig) check() error {
	pos := []struct {
		name string
		v    int
	}{{"embed_dim", c.EmbedDim}, {"num_embeddings", c.NumEmbeddings}, {"latent_channels", c.LatentChannels},
		{"num_patches", c.NumPatches}, {"in_channels", c.InChannels}, {"out_channels", c.OutChannels},
		{"base_channels", c.BaseChannels}, {"num_res_blocks", c.NumResBlocks}}
	for _, p := range pos {
		if p.v < 1 {
			return fmt.Errorf("%s is %d; it must be positive", p.name, p.v)
		}
	}
	if len(c.ChannelMultiplier) == 0 {
		return fmt.Errorf("channel_multiplier is empty; it needs one multiplier per resolution level")
	}
	if c.BaseChannels%janusVQGroups != 0 {
		return fmt.Errorf("base_channels %d is not a multiple of %d, the group count of the VQ-VAE's GroupNorms", c.BaseChannels, janusVQGroups)
	}
	for i, m := range c.ChannelMultiplier {
		if m < 1 {
			return fmt.Errorf("channel_multiplier[%d] is %d; it must be positive", i, m)
		}
		// base_channels is a multiple of 32, so base*m is too; the check stays for clarity.
		if c.BaseChannels*m%janusVQGroups != 0 {
			return fmt.Errorf("base_channels*channel_multiplier[%d] = %d is not a multiple of %d, the group count of the VQ-VAE's GroupNorms", i, c.BaseChannels*m, janusVQGroups)
		}
	}
	switch {
	case c.DoubleLatent:
		return fmt.Errorf("double_latent true: the encoder would output 2*latent_channels = %d channels, but quant_conv reads latent_channels = %d (transformers' JanusVQVAE cannot run it either)", 2*c.LatentChannels, c.LatentChannels)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %g is not in [0, 1)", c.Dropout)
	case c.InitializerRange < 0:
		return fmt.Errorf("initializer_range %g is negative", c.InitializerRange)
	}
	return nil
}

// Grid returns the latent grid's side h = w for images of side imageSize: every level but the
// last halves it (rounding down, as the padded stride-2 convolution does).
func (c JanusVQConfig) Grid(imageSize int) int {
	g := imageSize
	for range len(c.ChannelMultiplier) - 1 {
		g /= 2
	}
	return g
}

// janusVQ is the VQ-VAE's tensors, under transformers' JanusVQVAE names without the checkpoint
// prefix ("encoder.conv_in.weight", "quantize.embedding.weight", ...). GroupNorm parameters and
// the codebook are float32; convolutions are in kind.
type janusVQ struct {
	cfg  JanusVQConfig
	kind raw.Kind
	w    map[string]raw.Tensor
}

// janusVQRole says how a tensor is initialised (transformers' _init_weights).
type janusVQRole uint8

const (
	vqConvWeight janusVQRole = iota // N(0, initializer_range)
	vqBias                          // 0
	vqNormWeight                    // 1
	vqNormBias                      // 0
	vqCodebook                      // N(0, initializer_range)
)

// janusVQParam is one tensor the config implies.
type janusVQParam struct {
	name  string // without the checkpoint prefix
	shape []int64
	role  janusVQRole
}

// janusVQParams lists the tensors of a VQ-VAE of config c, in the order of transformers'
// state_dict.
func janusVQParams(c JanusVQConfig) []janusVQParam {
	var ps []janusVQParam
	conv := func(name string, out, in, k int) {
		ps = append(ps, janusVQParam{name + ".weight", []int64{int64(out), int64(in), int64(k), int64(k)}, vqConvWeight},
			janusVQParam{name + ".bias", []int64{int64(out)}, vqBias})
	}
	norm := func(name string, ch int) {
		ps = append(ps, janusVQParam{name + ".weight", []int64{int64(ch)}, vqNormWeight},
			janusVQParam{name + ".bias", []int64{int64(ch)}, vqNormBias})
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
	ps = append(ps, janusVQParam{"quantize.embedding.weight", []int64{int64(c.NumEmbeddings), int64(c.EmbedDim)}, vqCodebook})
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
func (r janusVQRole) kindOf(kind raw.Kind) raw.Kind {
	if r == vqNormWeight || r == vqNormBias || r == vqCodebook {
		return raw.Float32
	}
	return kind
}

// loadJanusVQ loads the VQ-VAE of config cfg from ws, its tensors under prefix (a Janus
// checkpoint's "model.vqmodel."), into arena a (which owns them) with convolutions in kind.
// Every tensor the config implies must be present with its shape; each one loaded is recorded
// in names (under its full name, prefix included) and appended to order. Tensors of ws the
// config does not imply are not looked at: the caller checks ws against names.
func loadJanusVQ(ws *Weights, a *raw.Arena, prefix string, cfg JanusVQConfig, kind raw.Kind, names map[string]raw.Tensor, order *[]string) (*janusVQ, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("hf: vq_config: %w", err)
	}
	q := &janusVQ{cfg: cfg, kind: kind, w: map[string]raw.Tensor{}}
	for _, p := range janusVQParams(cfg) {
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

// initJanusVQ draws a VQ-VAE of config cfg at random for training from scratch, as
// transformers' JanusPreTrainedModel._init_weights: convolution weights and the codebook ~
// N(0, initializer_range), biases 0, GroupNorm weights 1 and biases 0. The values come from a
// PCG generator seeded with seed, so they are the same on every run and device. Tensors are
// float32, owned by a, recorded in names and order under prefix + name, and do not require
// grad (the caller marks those that train). In a whole Janus model transformers draws with the
// vision tower's initializer_range; set cfg.InitializerRange to it for the same scale.
func initJanusVQ(a *raw.Arena, prefix string, cfg JanusVQConfig, seed uint64, names map[string]raw.Tensor, order *[]string) *janusVQ {
	q := &janusVQ{cfg: cfg, kind: raw.Float32, w: map[string]raw.Tensor{}}
	rng := rand.New(rand.NewPCG(seed, 0x4a616e7573565121)) // "JanusVQ!"
	std := cfg.InitializerRange
	for _, p := range janusVQParams(cfg) {
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
func (q *janusVQ) t(a *raw.Arena, name string) raw.Tensor {
	x, ok := q.w[name]
	if !ok {
		a.Fail(fmt.Errorf("hf: janus VQ-VAE has no tensor %s", name))
	}
	return x
}

// has reports whether the VQ-VAE has a tensor of the name (an optional shortcut).
func (q *janusVQ) has(name string) bool {
	_, ok := q.w[name]
	return ok
}

// String summarises the config, for logs.
func (c JanusVQConfig) String() string {
	ms := make([]string, len(c.ChannelMultiplier))
	for i, m := range c.ChannelMultiplier {
		ms[i] = fmt.Sprint(m)
	}
	return fmt.Sprintf("VQ-VAE E=%d K=%d L=%d base=%d mult=[%s] res_blocks=%d", c.EmbedDim, c.NumEmbeddings, c.LatentChannels, c.BaseChannels, strings.Join(ms, ","), c.NumResBlocks)
}
