package qwenvl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/unigrpo/unigrpo/models/hf"
)

// Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration): a windowed ViT (vision.go) whose
// merged patch features replace the <|image_pad|> token embeddings of a Qwen2 language model
// with multimodal rotary positions (M-RoPE: each token has a temporal, a height and a width
// position, and the rotary frequencies are split into three sections, one per axis).
//
// Below, N is the number of patches of the images (rows of pixel_values), M = N / merge^2 the
// merged tokens that enter the language model, Dv the vision width.

// Config is what a Qwen2.5-VL config.json says of the model.
type Config struct {
	Text         hf.LMConfig // the language model (read as a qwen2 model: q/k/v biases, no o bias)
	MropeSection []int       // rotary frequency pairs given to the t, h and w positions (sum Dh/2)
	Vision       VisionConfig
	ImageToken   int // <|image_pad|>
	VideoToken   int // <|video_pad|>
	VisionStart  int // <|vision_start|>
	VisionEnd    int // <|vision_end|>
}

// VisionConfig is the vision tower's part of config.json (vision_config), with
// Qwen2_5_VLVisionConfig's defaults for what it leaves out.
type VisionConfig struct {
	Depth           int     `json:"depth"`
	D               int     `json:"hidden_size"`
	F               int     `json:"intermediate_size"`
	H               int     `json:"num_heads"`
	Channels        int     `json:"in_channels"`
	Patch           int     `json:"patch_size"`
	Merge           int     `json:"spatial_merge_size"`
	TemporalPatch   int     `json:"temporal_patch_size"`
	Window          int     `json:"window_size"` // pixels
	OutD            int     `json:"out_hidden_size"`
	FullAtt         []int   `json:"fullatt_block_indexes"`
	Act             string  `json:"hidden_act"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	RopeParams      *struct {
		Theta float64 `json:"rope_theta"`
	} `json:"rope_parameters"`
	RopeTheta float64 `json:"-"`
}

// visionDefaults are Qwen2_5_VLVisionConfig's defaults.
func visionDefaults() VisionConfig {
	return VisionConfig{Depth: 32, D: 3584, F: 3420, H: 16, Channels: 3, Patch: 14, Merge: 2,
		TemporalPatch: 2, Window: 112, OutD: 3584, FullAtt: []int{7, 15, 23, 31}, Act: "silu",
		TokensPerSecond: 4, RopeTheta: 10000}
}

// ReadConfig reads and checks dir/config.json of a Qwen2.5-VL folder: the transformers 5
// layout (text_config, vision_config, rope_parameters) or the original one (the language model's
// fields at the top level, rope_scaling {type: mrope, mrope_section}).
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
	var top struct {
		ModelType   string          `json:"model_type"`
		Text        json.RawMessage `json:"text_config"`
		Vision      json.RawMessage `json:"vision_config"`
		ImageToken  *int            `json:"image_token_id"`
		VideoToken  *int            `json:"video_token_id"`
		VisionStart *int            `json:"vision_start_token_id"`
		VisionEnd   *int            `json:"vision_end_token_id"`
	}
	if err := json.Unmarshal(js, &top); err != nil {
		return Config{}, err
	}
	if top.ModelType != "qwen2_5_vl" {
		return Config{}, fmt.Errorf("model_type %q is not qwen2_5_vl", top.ModelType)
	}
	var c Config
	for _, f := range []struct {
		dst  *int
		src  *int
		name string
	}{{&c.ImageToken, top.ImageToken, "image_token_id"}, {&c.VideoToken, top.VideoToken, "video_token_id"},
		{&c.VisionStart, top.VisionStart, "vision_start_token_id"}, {&c.VisionEnd, top.VisionEnd, "vision_end_token_id"}} {
		if f.src == nil {
			return Config{}, fmt.Errorf("no %s", f.name)
		}
		*f.dst = *f.src
	}
	// The language model: text_config, or the top level in the original layout.
	textJS := []byte(top.Text)
	if len(top.Text) == 0 || string(top.Text) == "null" {
		textJS = js
	}
	var err error
	if c.Text, c.MropeSection, err = parseText(textJS); err != nil {
		return Config{}, err
	}
	if c.Vision, err = parseVision(top.Vision, c.Text.D); err != nil {
		return Config{}, err
	}
	for _, id := range []int{c.ImageToken, c.VisionStart, c.VisionEnd} {
		if id < 0 || id >= c.Text.Vocab {
			return Config{}, fmt.Errorf("special token id %d outside the vocabulary of %d", id, c.Text.Vocab)
		}
	}
	return c, nil
}

// parseText reads the language model's config (text_config, or the top level of the
// original layout) and its M-RoPE sections.
func parseText(textJS []byte) (hf.LMConfig, []int, error) {
	var rope struct {
		Params  map[string]json.RawMessage `json:"rope_parameters"`
		Scaling map[string]json.RawMessage `json:"rope_scaling"`
	}
	if err := json.Unmarshal(textJS, &rope); err != nil {
		return hf.LMConfig{}, nil, fmt.Errorf("text_config: %v", err)
	}
	var t hf.LMConfig
	if err := json.Unmarshal(textJS, &t); err != nil {
		return hf.LMConfig{}, nil, fmt.Errorf("text_config: %v", err)
	}
	var section []int
	for _, m := range []map[string]json.RawMessage{rope.Params, rope.Scaling} {
		if s, ok := m["mrope_section"]; ok {
			if err := json.Unmarshal(s, &section); err != nil {
				return hf.LMConfig{}, nil, fmt.Errorf("mrope_section: %v", err)
			}
		}
		for _, key := range []string{"rope_type", "type"} {
			if v, ok := m[key]; ok {
				var typ string
				_ = json.Unmarshal(v, &typ)
				if typ != "default" && typ != "mrope" && typ != "" {
					return hf.LMConfig{}, nil, fmt.Errorf("text rope type %q is not implemented (only the default M-RoPE)", typ)
				}
			}
		}
	}
	if t.RopeTheta == 0 && t.RopeParams != nil {
		t.RopeTheta = t.RopeParams.Theta
	}
	if t.RopeTheta == 0 {
		t.RopeTheta = 1000000 // Qwen2_5_VLTextConfig's default
	}
	t.RopeParams, t.RopeScaling = nil, nil // checked above: M-RoPE with the default frequencies
	switch t.ModelType {
	case "qwen2_5_vl_text", "qwen2_5_vl":
	default:
		return hf.LMConfig{}, nil, fmt.Errorf("text model_type %q is not qwen2_5_vl_text", t.ModelType)
	}
	// The text model is a qwen2 decoder: q/k/v biases, no o_proj bias, no MLP bias.
	t.ModelType, t.AttnBias, t.MLPBias = "qwen2", false, false
	if t.Dh == 0 && t.H > 0 {
		t.Dh = t.D / t.H
	}
	if t.KV == 0 {
		t.KV = t.H
	}
	if err := t.Check(); err != nil {
		return hf.LMConfig{}, nil, fmt.Errorf("text_config: %w", err)
	}
	if t.D != t.H*t.Dh {
		return hf.LMConfig{}, nil, fmt.Errorf("text_config: hidden_size %d is not num_attention_heads %d x head_dim %d", t.D, t.H, t.Dh)
	}
	sum := 0
	for _, s := range section {
		sum += s
	}
	if len(section) != 3 || sum != t.Dh/2 {
		return hf.LMConfig{}, nil, fmt.Errorf("mrope_section %v must be three sizes summing to head_dim/2 = %d", section, t.Dh/2)
	}
	return t, section, nil
}

// parseVision reads vision_config (js; its defaults when empty) against the text width D.
func parseVision(js json.RawMessage, D int) (VisionConfig, error) {
	v := visionDefaults()
	if len(js) > 0 && string(js) != "null" {
		if err := json.Unmarshal(js, &v); err != nil {
			return v, fmt.Errorf("vision_config: %v", err)
		}
	}
	if v.RopeParams != nil && v.RopeParams.Theta > 0 {
		v.RopeTheta = v.RopeParams.Theta
	}
	switch {
	case v.Depth < 1 || v.D < 1 || v.F < 1 || v.H < 1 || v.Channels < 1 || v.Patch < 1 || v.Merge < 1 || v.TemporalPatch < 1 || v.OutD < 1:
		return v, fmt.Errorf("vision_config: depth, hidden_size, intermediate_size, num_heads, in_channels, patch_size, spatial_merge_size, temporal_patch_size and out_hidden_size must be positive")
	case v.D%v.H != 0 || (v.D/v.H)%4 != 0:
		return v, fmt.Errorf("vision_config: hidden_size %d / num_heads %d must be a multiple of 4 (2-D rotary embeddings)", v.D, v.H)
	case v.Act != "silu":
		return v, fmt.Errorf("vision_config: hidden_act %q: only silu is implemented", v.Act)
	case v.Window < v.Patch*v.Merge || v.Window%(v.Patch*v.Merge) != 0:
		return v, fmt.Errorf("vision_config: window_size %d must be a multiple of patch_size x spatial_merge_size = %d", v.Window, v.Patch*v.Merge)
	case v.OutD != D:
		return v, fmt.Errorf("vision_config: out_hidden_size %d differs from the text hidden_size %d", v.OutD, D)
	}
	for _, i := range v.FullAtt {
		if i < 0 || i >= v.Depth {
			return v, fmt.Errorf("vision_config: fullatt_block_indexes holds %d, outside depth %d", i, v.Depth)
		}
	}
	return v, nil
}
