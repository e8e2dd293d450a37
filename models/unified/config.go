package unified

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/world"
)

// Shape is the size of a unified model trained from scratch in the world: a tiny Janus whose
// vision tower reads the 32x32 scenes as an 8x8 grid of 4-pixel patches and whose VQ-VAE draws
// them as 8x8 codes (two halvings), so both directions see G*G = 64 image tokens.
type Shape struct {
	Dim      int `json:"dim"`      // the language model's width
	Layers   int `json:"layers"`   // its decoder layers
	Heads    int `json:"heads"`    // its attention heads (key/value heads: half of them)
	Vision   int `json:"vision"`   // the vision tower's width
	VLayers  int `json:"v_layers"` // its layers
	Codebook int `json:"codebook"` // K, codes of the VQ-VAE
	CodeDim  int `json:"code_dim"` // E, the width of a code
	Channels int `json:"channels"` // the VQ-VAE's base channels (a multiple of 32, its GroupNorm groups)
}

// TinyShape is the world's unified model: about 1.2M parameters in the language model, 0.1M in
// the vision tower and 0.6M in the VQ-VAE, so that the three stages of the demo train on two CPU
// cores in minutes. 256 codes of 8 numbers are plenty for scenes of 8 colours on 3 backgrounds.
func TinyShape() Shape {
	return Shape{Dim: 128, Layers: 4, Heads: 4, Vision: 64, VLayers: 2, Codebook: 256, CodeDim: 8, Channels: 32}
}

// Check reports a shape that cannot make a model.
func (s Shape) Check() error {
	switch {
	case s.Dim < 8 || s.Layers < 1 || s.Heads < 2 || s.Dim%s.Heads != 0 || s.Heads%2 != 0:
		return fmt.Errorf("unified model: width %d, %d layers, %d heads: the width must split into an even number of heads", s.Dim, s.Layers, s.Heads)
	case s.Vision < 8 || s.VLayers < 1 || s.Vision%4 != 0:
		return fmt.Errorf("unified model: vision width %d (a multiple of 4, its heads) and %d layers", s.Vision, s.VLayers)
	case s.Codebook < 2 || s.CodeDim < 1:
		return fmt.Errorf("unified model: codebook of %d codes of %d numbers", s.Codebook, s.CodeDim)
	case s.Channels < 32 || s.Channels%32 != 0:
		return fmt.Errorf("unified model: VQ-VAE base channels %d: use a multiple of 32 (its GroupNorm has 32 groups)", s.Channels)
	}
	return nil
}

// configJSON is the model's config.json in transformers' JanusConfig layout, and its
// generation_config.json, with this package's token ids.
func (s Shape) configJSON() (cfg, gen []byte, err error) {
	size := world.DefaultConfig().Size
	const patch = 4
	grid := size / patch
	text := map[string]any{
		"model_type": "llama", "vocab_size": V, "hidden_size": s.Dim, "intermediate_size": s.Dim * 8 / 3 / 8 * 8,
		"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.Heads / 2,
		"head_dim": s.Dim / s.Heads, "hidden_act": "silu", "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
		"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 10000.0},
		"attention_bias":  false, "mlp_bias": false, "tie_word_embeddings": false, "initializer_range": 0.02,
		"bos_token_id": world.BOS, "eos_token_id": world.EOS, "pad_token_id": world.PAD,
	}
	vision := map[string]any{
		"model_type": "janus_vision_model", "hidden_size": s.Vision, "num_hidden_layers": s.VLayers,
		"num_attention_heads": 4, "num_channels": 3, "image_size": size, "patch_size": patch, "layer_norm_eps": 1e-6,
		"hidden_act": "gelu", "mlp_ratio": 2.0, "attention_bias": true, "projection_dim": s.Dim,
		"use_qk_norm": false, "initializer_range": 0.02, "depth": 2, "num_image_tokens": grid * grid,
	}
	vq := map[string]any{
		"model_type": "janus_vqgan", "embed_dim": s.CodeDim, "num_embeddings": s.Codebook, "double_latent": false,
		"latent_channels": 2 * s.Channels, "num_patches": grid, "in_channels": 3, "out_channels": 3,
		"base_channels": s.Channels, "channel_multiplier": []int{1, 1, 2}, "num_res_blocks": 1, "dropout": 0.0,
		"initializer_range": 0.02, "projection_dim": s.Dim, "num_hidden_layers": 2, "hidden_act": "gelu",
		"image_token_embed_dim": s.Dim,
	}
	cfg, err = json.MarshalIndent(map[string]any{
		"architectures": []string{"JanusForConditionalGeneration"}, "model_type": "janus", "image_token_id": ImageToken,
		"tie_word_embeddings": false, "dtype": "float32", "text_config": text, "vision_config": vision, "vq_config": vq,
		"unigrpo_vocabulary": "world-unified-v1",
	}, "", " ")
	if err != nil {
		return nil, nil, err
	}
	gen, err = json.MarshalIndent(map[string]any{
		"bos_token_id": world.BOS, "eos_token_id": world.EOS, "pad_token_id": world.PAD, "boi_token_id": BeginImage,
		"generation_kwargs": map[string]any{"boi_token_id": BeginImage},
	}, "", " ")
	return cfg, gen, err
}

// WriteFolder writes a new unified model of shape s to dir, its weights drawn from seed as
// transformers' _init_weights draws them (janus.WriteRandom).
func WriteFolder(dir string, s Shape, seed uint64) error {
	if err := s.Check(); err != nil {
		return err
	}
	cfg, gen, err := s.configJSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), gen, 0o644); err != nil {
		return err
	}
	jc, err := janus.ReadConfig(dir)
	if err != nil {
		return err
	}
	return janus.WriteRandom(dir, jc, seed)
}

// New makes a unified model of shape s from scratch on dev: written to a temporary folder, then
// opened by the same code as any Janus folder; the folder goes when the policy closes.
func New(s Shape, seed uint64, dev gotch.Device, o Options) (*Policy, error) {
	dir, err := os.MkdirTemp("", "unified-init-")
	if err != nil {
		return nil, err
	}
	if err := WriteFolder(dir, s, seed); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("unified: new model: %w", err)
	}
	p, err := Open(dir, dev, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.tmp = dir
	return p, nil
}
