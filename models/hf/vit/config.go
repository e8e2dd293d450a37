package vit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/unigrpo/unigrpo/models/hf"
)

// Config is what a vision encoder's config.json says of its shape, for the families read
// here: CLIP's vision tower (model_type clip_vision_model, or the vision_config of a clip
// model), DINOv2 (dinov2) and SigLIP's vision tower (siglip_vision_model, or the vision_config
// of a siglip model). Below, S is the input side in pixels, P the patch side, G = S/P the patch
// grid's side, N = G*G patches and T the tokens (N, plus the class token of CLIP and DINOv2).
type Config struct {
	ModelType string // the vision tower's: clip_vision_model, dinov2 or siglip_vision_model
	D         int    // hidden_size
	F         int    // intermediate_size (DINOv2: hidden_size * mlp_ratio)
	Layers    int    // num_hidden_layers
	H         int    // num_attention_heads
	Channels  int    // num_channels
	ImageSize int    // image_size: the side the position embeddings were trained for
	Patch     int    // patch_size
	Proj      int    // CLIP: projection_dim, the width of visual_projection (when the folder has it)
	Act       string // hidden_act
	Eps       float64
	QKVBias   bool // DINOv2's qkv_bias (CLIP and SigLIP always have q, k, v biases)
	MaskToken bool // DINOv2's use_mask_token: the folder holds embeddings.mask_token (unused here)

	outer string // model_type of a full two-tower folder (clip, siglip), "" for a vision model
}

// Grid returns the patch grid's side for the trained image size.
func (c Config) Grid() int { return c.ImageSize / c.Patch }

// configJSON holds config.json's fields; pointers tell a missing field (the class default)
// from a zero.
type configJSON struct {
	ModelType string          `json:"model_type"`
	Hidden    *int            `json:"hidden_size"`
	Inter     *int            `json:"intermediate_size"`
	Layers    *int            `json:"num_hidden_layers"`
	Heads     *int            `json:"num_attention_heads"`
	Channels  *int            `json:"num_channels"`
	ImageSize json.RawMessage `json:"image_size"`
	PatchSize json.RawMessage `json:"patch_size"`
	Proj      *int            `json:"projection_dim"`
	Act       *string         `json:"hidden_act"`
	Eps       *float64        `json:"layer_norm_eps"`
	MLPRatio  *float64        `json:"mlp_ratio"`
	QKVBias   *bool           `json:"qkv_bias"`
	SwiGLU    bool            `json:"use_swiglu_ffn"`
	MaskToken *bool           `json:"use_mask_token"`
	UseHead   *bool           `json:"vision_use_head"`
	Vision    json.RawMessage `json:"vision_config"`
}

// ReadConfig reads and checks dir/config.json, filling the fields it leaves out with the
// defaults of transformers' config classes.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("hf: %w (a Hugging Face model folder has a config.json)", err)
	}
	c, err := parseConfig(js)
	if err != nil {
		return Config{}, fmt.Errorf("hf: %s: %w", path, err)
	}
	return c, nil
}

func parseConfig(js []byte) (Config, error) {
	var top configJSON
	if err := json.Unmarshal(js, &top); err != nil {
		return Config{}, err
	}
	j, outer, proj, err := tower(top)
	if err != nil {
		return Config{}, err
	}
	c, err := defaults(j.ModelType)
	if err != nil {
		return Config{}, err
	}
	c.outer = outer
	hf.Override(&c.D, j.Hidden)
	hf.Override(&c.F, j.Inter)
	hf.Override(&c.Layers, j.Layers)
	hf.Override(&c.H, j.Heads)
	hf.Override(&c.Channels, j.Channels)
	hf.Override(&c.Proj, j.Proj)
	if outer == "clip" {
		c.Proj = proj
	}
	hf.Override(&c.Act, j.Act)
	hf.Override(&c.Eps, j.Eps)
	if j.QKVBias != nil && c.ModelType == "dinov2" {
		c.QKVBias = *j.QKVBias
	}
	if j.MaskToken != nil && c.ModelType == "dinov2" {
		c.MaskToken = *j.MaskToken
	}
	if c.ImageSize, err = hf.SquareSide("image_size", j.ImageSize, c.ImageSize); err != nil {
		return Config{}, err
	}
	if c.Patch, err = hf.SquareSide("patch_size", j.PatchSize, c.Patch); err != nil {
		return Config{}, err
	}
	if c.ModelType == "dinov2" {
		ratio := 4.0
		if j.MLPRatio != nil {
			ratio = *j.MLPRatio
		}
		c.F = int(float64(c.D) * ratio)
		if j.SwiGLU {
			return Config{}, fmt.Errorf("use_swiglu_ffn (DINOv2 giant's SwiGLU MLP) is not implemented")
		}
	}
	if c.ModelType == "siglip_vision_model" && j.UseHead != nil && !*j.UseHead {
		return Config{}, fmt.Errorf("vision_use_head false: a SigLIP tower without its attention-pooling head has no pooled output to embed (not implemented)")
	}
	return c, c.check()
}

// tower returns the fields of the vision tower: the top level of a vision model's config, or
// the vision_config of a full two-tower folder (outer its model_type, clip or siglip; proj the
// outer projection_dim of CLIPModel's visual_projection).
func tower(top configJSON) (j configJSON, outer string, proj int, err error) {
	j = top
	switch top.ModelType {
	case "clip", "siglip": // a full two-tower folder: read its vision tower
		if len(top.Vision) == 0 || string(top.Vision) == "null" {
			return j, "", 0, fmt.Errorf("model_type %s without a vision_config", top.ModelType)
		}
		j = configJSON{}
		if err := json.Unmarshal(top.Vision, &j); err != nil {
			return j, "", 0, fmt.Errorf("vision_config: %v", err)
		}
		outer = top.ModelType
		if j.ModelType == "" {
			j.ModelType = top.ModelType + "_vision_model"
		}
		if outer == "clip" { // CLIPModel's visual_projection has the outer projection_dim
			proj = 512
			if top.Proj != nil {
				proj = *top.Proj
			}
		}
	}
	return j, outer, proj, nil
}

// defaults returns the defaults of the config class of the vision tower's model_type.
func defaults(modelType string) (Config, error) {
	c := Config{ModelType: modelType, Channels: 3}
	switch c.ModelType {
	case "clip_vision_model":
		c.D, c.F, c.Layers, c.H, c.ImageSize, c.Patch, c.Proj = 768, 3072, 12, 12, 224, 32, 512
		c.Act, c.Eps, c.QKVBias = "quick_gelu", 1e-5, true
	case "dinov2":
		c.D, c.Layers, c.H, c.ImageSize, c.Patch = 768, 12, 12, 224, 14
		c.Act, c.Eps, c.QKVBias, c.MaskToken = "gelu", 1e-6, true, true
	case "siglip_vision_model":
		c.D, c.F, c.Layers, c.H, c.ImageSize, c.Patch = 768, 3072, 12, 12, 224, 16
		c.Act, c.Eps, c.QKVBias = "gelu_pytorch_tanh", 1e-6, true
	case "":
		return Config{}, fmt.Errorf("no model_type")
	default:
		return Config{}, fmt.Errorf("model_type %q is not a vision encoder family read here (clip_vision_model, dinov2, siglip_vision_model, or the vision tower of clip and siglip)", c.ModelType)
	}
	return c, nil
}

func (c Config) check() error {
	switch {
	case c.D < 1 || c.F < 1 || c.Layers < 1 || c.H < 1 || c.Channels < 1 || c.ImageSize < 1 || c.Patch < 1:
		return fmt.Errorf("hidden_size, intermediate_size (or mlp_ratio), num_hidden_layers, num_attention_heads, num_channels, image_size and patch_size must be positive")
	case c.D%c.H != 0:
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", c.D, c.H)
	case c.ImageSize%c.Patch != 0:
		return fmt.Errorf("image_size %d is not a multiple of patch_size %d", c.ImageSize, c.Patch)
	case c.Eps <= 0:
		return fmt.Errorf("layer_norm_eps must be positive")
	case c.ModelType == "clip_vision_model" && c.Proj < 0:
		return fmt.Errorf("projection_dim must be positive")
	}
	if !hf.KnownActivation(c.Act) {
		return fmt.Errorf("hidden_act %q is not implemented (quick_gelu, gelu, gelu_pytorch_tanh, gelu_new)", c.Act)
	}
	return nil
}
