package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// LMConfig is what a causal language model's config.json says of its shape, for the families
// read here (model_type llama and qwen2).
type LMConfig struct {
	ModelType    string  `json:"model_type"`
	Vocab        int     `json:"vocab_size"`
	D            int     `json:"hidden_size"`
	F            int     `json:"intermediate_size"`
	Layers       int     `json:"num_hidden_layers"`
	H            int     `json:"num_attention_heads"`
	KV           int     `json:"num_key_value_heads"`
	Dh           int     `json:"head_dim"` // 0: D/H
	Eps          float64 `json:"rms_norm_eps"`
	RopeTheta    float64 `json:"rope_theta"`
	TieEmbedding bool    `json:"tie_word_embeddings"`
	AttnBias     bool    `json:"attention_bias"` // llama's q/k/v/o biases; qwen2 always has q/k/v biases
	MLPBias      bool    `json:"mlp_bias"`
	Act          string  `json:"hidden_act"`
	MaxPos       int     `json:"max_position_embeddings"`
	RopeParams   *struct {
		Theta float64 `json:"rope_theta"`
		Type  string  `json:"rope_type"`
	} `json:"rope_parameters"`
	RopeScaling *struct {
		Type string `json:"rope_type"`
	} `json:"rope_scaling"`
	SlidingWindow bool `json:"use_sliding_window"`
	EOS           any  `json:"eos_token_id"` // a number or a list
	PAD           *int `json:"pad_token_id"`
	BOS           *int `json:"bos_token_id"`
}

// ReadLMConfig reads and checks dir/config.json.
func ReadLMConfig(dir string) (LMConfig, error) {
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return LMConfig{}, fmt.Errorf("hf: %w (a Hugging Face model folder has a config.json)", err)
	}
	var c LMConfig
	if err := json.Unmarshal(js, &c); err != nil {
		return LMConfig{}, fmt.Errorf("hf: %s: %v", path, err)
	}
	if c.RopeTheta == 0 && c.RopeParams != nil {
		c.RopeTheta = c.RopeParams.Theta
	}
	if c.Dh == 0 && c.H > 0 {
		c.Dh = c.D / c.H
	}
	if c.KV == 0 {
		c.KV = c.H
	}
	if err := c.Check(); err != nil {
		return LMConfig{}, fmt.Errorf("hf: %s: %w", path, err)
	}
	return c, nil
}

// Check names the first field of the config that the decoder cannot run with.
func (c LMConfig) Check() error {
	switch c.ModelType {
	case "llama", "qwen2":
	case "":
		return fmt.Errorf("no model_type")
	default:
		return fmt.Errorf("model_type %q is not a language model family read here (llama, qwen2)", c.ModelType)
	}
	switch {
	case c.Vocab < 1 || c.D < 1 || c.F < 1 || c.Layers < 1 || c.H < 1 || c.KV < 1 || c.Dh < 1:
		return fmt.Errorf("vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and num_key_value_heads must be positive")
	case c.H%c.KV != 0:
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.H, c.KV)
	case c.Dh%2 != 0:
		return fmt.Errorf("head_dim %d must be even for rotary embeddings", c.Dh)
	case c.Act != "silu" && c.Act != "":
		return fmt.Errorf("hidden_act %q: only silu (SwiGLU) is implemented", c.Act)
	case c.RopeTheta <= 0:
		return fmt.Errorf("no rope_theta")
	case c.RopeScaling != nil && c.RopeScaling.Type != "" && c.RopeScaling.Type != "default":
		return fmt.Errorf("rope_scaling %q is not implemented (only the default rotary embedding)", c.RopeScaling.Type)
	case c.RopeParams != nil && c.RopeParams.Type != "" && c.RopeParams.Type != "default":
		return fmt.Errorf("rope_type %q is not implemented (only the default rotary embedding)", c.RopeParams.Type)
	case c.SlidingWindow:
		return fmt.Errorf("use_sliding_window is not implemented")
	case c.Eps <= 0:
		return fmt.Errorf("rms_norm_eps must be positive")
	}
	return nil
}

// QKVBias reports whether the attention projections q, k, v carry biases.
func (c LMConfig) QKVBias() bool { return c.ModelType == "qwen2" || c.AttnBias }

// EOSIDs returns the end-of-sequence ids config.json names (one or a list).
func (c LMConfig) EOSIDs() []int {
	switch v := c.EOS.(type) {
	case float64:
		return []int{int(v)}
	case []any:
		var out []int
		for _, x := range v {
			if f, ok := x.(float64); ok {
				out = append(out, int(f))
			}
		}
		return out
	}
	return nil
}

// Override sets *dst to *src when a config file gave the field (src not nil), keeping the family's
// default otherwise.
func Override[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// SquareSide reads a config's image_size or patch_size (name): a number, or [h, w] with h == w;
// def when the field is absent or null.
func SquareSide(name string, js json.RawMessage, def int) (int, error) {
	if len(js) == 0 || string(js) == "null" {
		return def, nil
	}
	var n int
	if json.Unmarshal(js, &n) == nil {
		return n, nil
	}
	var hw []int
	if err := json.Unmarshal(js, &hw); err != nil || len(hw) != 2 {
		return 0, fmt.Errorf("%s %s: want a number or [height, width]", name, js)
	}
	if hw[0] != hw[1] {
		return 0, fmt.Errorf("%s %s: only square sizes are implemented", name, js)
	}
	return hw[0], nil
}
