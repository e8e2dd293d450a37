package janus

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The configuration of Janus's image tokenizer, the VQ-VAE (vq.go).

// vqGroups is the group count of every GroupNorm of the VQ-VAE (fixed in transformers).
const vqGroups = 32

// vqNormEps is the epsilon of every GroupNorm of the VQ-VAE.
const vqNormEps = 1e-6

// vqBeta weighs the codebook term of the embedding loss (transformers reads an optional
// config attribute beta that JanusVQVAEConfig never sets, so it is always 0.25).
const vqBeta = 0.25

// VQConfig is the vq_config of a Janus config.json (transformers' JanusVQVAEConfig), with
// its JSON names. ProjectionDim, NumHiddenLayers, HiddenAct and ImageTokenEmbedDim shape the
// generation aligner and head, which are not part of the VQ-VAE itself.
type VQConfig struct {
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

// defaultVQConfig returns transformers' JanusVQVAEConfig defaults.
func defaultVQConfig() VQConfig {
	return VQConfig{
		EmbedDim: 8, NumEmbeddings: 16384, LatentChannels: 256, NumPatches: 32,
		InChannels: 3, OutChannels: 3, BaseChannels: 128, ChannelMultiplier: []int{1, 1, 2, 2, 4},
		NumResBlocks: 2, InitializerRange: 0.02, ProjectionDim: 2048, NumHiddenLayers: 2,
		HiddenAct: "gelu", ImageTokenEmbedDim: 2048,
	}
}

// parseVQConfig reads a vq_config object (the value of "vq_config" in a Janus
// config.json, not the whole file), filling absent fields with transformers' defaults (all of
// them for empty or null input), and checks it. Note that transformers' JanusConfig overwrites num_patches with the vision tower's
// image_size / patch_size; a caller holding the whole config should do the same.
func parseVQConfig(js []byte) (VQConfig, error) {
	c := defaultVQConfig()
	if t := strings.TrimSpace(string(js)); t == "" || t == "null" {
		return c, nil // no vq_config: transformers' JanusConfig uses the defaults
	}
	c.ChannelMultiplier = nil
	if err := json.Unmarshal(js, &c); err != nil {
		return VQConfig{}, fmt.Errorf("vq_config: %v", err)
	}
	if c.ChannelMultiplier == nil {
		c.ChannelMultiplier = defaultVQConfig().ChannelMultiplier
	}
	if err := c.check(); err != nil {
		return VQConfig{}, fmt.Errorf("vq_config: %w", err)
	}
	return c, nil
}

// check names the first value the VQ-VAE cannot be built with.
func (c VQConfig) check() error {
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
	if c.BaseChannels%vqGroups != 0 {
		return fmt.Errorf("base_channels %d is not a multiple of %d, the group count of the VQ-VAE's GroupNorms", c.BaseChannels, vqGroups)
	}
	for i, m := range c.ChannelMultiplier {
		if m < 1 {
			return fmt.Errorf("channel_multiplier[%d] is %d; it must be positive", i, m)
		}
		// base_channels is a multiple of 32, so base*m is too; the check stays for clarity.
		if c.BaseChannels*m%vqGroups != 0 {
			return fmt.Errorf("base_channels*channel_multiplier[%d] = %d is not a multiple of %d, the group count of the VQ-VAE's GroupNorms", i, c.BaseChannels*m, vqGroups)
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
func (c VQConfig) Grid(imageSize int) int {
	g := imageSize
	for range len(c.ChannelMultiplier) - 1 {
		g /= 2
	}
	return g
}

// String summarises the config, for logs.
func (c VQConfig) String() string {
	ms := make([]string, len(c.ChannelMultiplier))
	for i, m := range c.ChannelMultiplier {
		ms[i] = fmt.Sprint(m)
	}
	return fmt.Sprintf("VQ-VAE E=%d K=%d L=%d base=%d mult=[%s] res_blocks=%d", c.EmbedDim, c.NumEmbeddings, c.LatentChannels, c.BaseChannels, strings.Join(ms, ","), c.NumResBlocks)
}
