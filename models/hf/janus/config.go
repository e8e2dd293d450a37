package janus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/unigrpo/unigrpo/models/hf"
)

// Janus and Janus-Pro (transformers' JanusForConditionalGeneration): one Llama decoder reads
// and writes both text and images. Understanding: a SigLIP-style vision tower (no class token,
// no pooling head) and a small MLP (the aligner) turn an image into G*G features that replace
// the G*G <image_placeholder> embeddings of the prompt; the head is lm_head. Generation: the
// image is G*G codes of a VQ-VAE codebook (vq.go), each code read back through
// generation_embeddings and an MLP (generation_aligner) and predicted by generation_head from
// the decoder's final hidden state, with classifier-free guidance (generate_image.go).
//
// Below, G = image_size / patch_size of the vision tower is the side of both token grids
// (understanding features and generated codes), K the codebook size, E its code width.

// Config is what a Janus folder's config.json (transformers' JanusConfig layout) and
// generation_config.json say of the model.
type Config struct {
	Text   hf.LMConfig  // text_config: the Llama decoder
	Vision VisionConfig // vision_config: the understanding tower and its aligner
	// vq_config (vq.go): the VQ-VAE, and the shapes of generation_embeddings [K, E]
	// (num_embeddings, embed_dim), generation_aligner (num_hidden_layers Linear layers of width
	// projection_dim) and generation_head (image_token_embed_dim -> projection_dim -> K).
	VQ           VQConfig
	ImageTokenID int // image_token_id: <image_placeholder>
	// The ids that stay in the unconditional rows of guided generation (everything else there
	// becomes PAD): generation_config.json's bos_token_id, pad_token_id and boi_token_id
	// (<begin_of_image>), the first two else text_config's; -1 where neither says.
	BOS, PAD, BOI int
}

// VisionConfig is vision_config, with transformers' JanusVisionConfig defaults for what it
// leaves out.
type VisionConfig struct {
	D         int     `json:"hidden_size"`
	Layers    int     `json:"num_hidden_layers"`
	H         int     `json:"num_attention_heads"`
	Channels  int     `json:"num_channels"`
	ImageSize int     `json:"-"` // image_size (a number or [h, w] with h == w)
	Patch     int     `json:"-"` // patch_size
	Eps       float64 `json:"layer_norm_eps"`
	Act       string  `json:"hidden_act"` // the tower's MLP and the aligner's
	MLPRatio  float64 `json:"mlp_ratio"`  // the MLP's width is int(hidden_size * mlp_ratio)
	AttnBias  bool    `json:"attention_bias"`
	ProjDim   int     `json:"projection_dim"`   // the aligner's width: the text hidden size
	Depth     int     `json:"depth"`            // the aligner's Linear layers
	Tokens    int     `json:"num_image_tokens"` // G*G: features per image, codes per generated image
	QKNorm    bool    `json:"use_qk_norm"`
	InitRange float64 `json:"initializer_range"` // the std of every initial weight (_init_weights)
}

// F is the width of the tower's MLP.
func (c VisionConfig) F() int { return int(float64(c.D) * c.MLPRatio) }

// Grid is G, the side of the patch grid and of the generated code grid.
func (c VisionConfig) Grid() int { return c.ImageSize / c.Patch }

// ReadConfig reads and checks dir/config.json and, when present, dir/generation_config.json.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("hf: %w (a Hugging Face model folder has a config.json)", err)
	}
	gen, err := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("hf: %w", err)
	}
	c, err := parseConfig(js, gen)
	if err != nil {
		return Config{}, fmt.Errorf("hf: %s: %w", path, err)
	}
	return c, nil
}

// present reports whether a JSON object has the key.
func present(js json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(js, &m)
	_, ok := m[key]
	return ok
}

func parseConfig(js, genJS []byte) (Config, error) {
	var top struct {
		ModelType  string          `json:"model_type"`
		Text       json.RawMessage `json:"text_config"`
		Vision     json.RawMessage `json:"vision_config"`
		VQ         json.RawMessage `json:"vq_config"`
		ImageToken *int            `json:"image_token_id"`
		Tie        *bool           `json:"tie_word_embeddings"`
	}
	if err := json.Unmarshal(js, &top); err != nil {
		return Config{}, err
	}
	if top.ModelType != "janus" {
		return Config{}, fmt.Errorf("model_type %q is not janus", top.ModelType)
	}
	for _, sub := range []*json.RawMessage{&top.Text, &top.Vision, &top.VQ} {
		if len(*sub) == 0 || string(*sub) == "null" {
			*sub = json.RawMessage("{}") // the sub-config's defaults, as JanusConfig fills them
		}
	}
	c := Config{ImageTokenID: 100581}
	hf.Override(&c.ImageTokenID, top.ImageToken)
	var err error
	if c.Text, err = parseText(top.Text, top.Tie); err != nil {
		return Config{}, err
	}
	t := c.Text
	if c.Vision, err = parseVision(top.Vision, t.D); err != nil {
		return Config{}, err
	}
	if c.VQ, err = parseVQConfig(top.VQ); err != nil {
		return Config{}, err
	}
	c.VQ.NumPatches = c.Vision.Grid() // as transformers' JanusConfig sets it
	if err := c.VQ.checkGen(t.D); err != nil {
		return Config{}, fmt.Errorf("vq_config: %w", err)
	}
	if c.ImageTokenID < 0 || c.ImageTokenID >= t.Vocab {
		return Config{}, fmt.Errorf("image_token_id %d outside the vocabulary of %d", c.ImageTokenID, t.Vocab)
	}
	if err := c.readSpecialIDs(genJS); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseText reads text_config: a LlamaConfig (its defaults first; the JSON overrides what
// it gives). tie is the top level's tie_word_embeddings (nil: not given).
func parseText(js json.RawMessage, tie *bool) (hf.LMConfig, error) {
	t := hf.LMConfig{ModelType: "llama", Vocab: 32000, D: 4096, F: 11008, Layers: 32, H: 32, Eps: 1e-6,
		RopeTheta: 10000, Act: "silu", MaxPos: 2048}
	if err := json.Unmarshal(js, &t); err != nil {
		return hf.LMConfig{}, fmt.Errorf("text_config: %v", err)
	}
	if t.RopeParams != nil && t.RopeParams.Theta > 0 {
		t.RopeTheta = t.RopeParams.Theta
	}
	if t.Dh == 0 && t.H > 0 {
		t.Dh = t.D / t.H
	}
	if t.KV == 0 {
		t.KV = t.H
	}
	// Tied lm_head: the top level's tie_word_embeddings (transformers 5 reads it there; its
	// JanusConfig defaults to true), else text_config's (transformers 4 read that one).
	switch {
	case tie != nil:
		t.TieEmbedding = *tie
	case !present(js, "tie_word_embeddings"):
		t.TieEmbedding = true
	}
	if err := t.Check(); err != nil {
		return hf.LMConfig{}, fmt.Errorf("text_config: %w", err)
	}
	return t, nil
}

// parseVision reads vision_config (JanusVisionConfig's defaults first) against the
// decoder's width D.
func parseVision(js json.RawMessage, D int) (VisionConfig, error) {
	v := VisionConfig{D: 1024, Layers: 24, H: 16, Channels: 3, ImageSize: 384, Patch: 16, Eps: 1e-6,
		Act: "gelu", MLPRatio: 4, AttnBias: true, ProjDim: 2048, Depth: 2, Tokens: 576, InitRange: 0.02}
	if err := json.Unmarshal(js, &v); err != nil {
		return v, fmt.Errorf("vision_config: %v", err)
	}
	var sides struct {
		ImageSize json.RawMessage `json:"image_size"`
		PatchSize json.RawMessage `json:"patch_size"`
	}
	_ = json.Unmarshal(js, &sides)
	var err error
	if v.ImageSize, err = hf.SquareSide("image_size", sides.ImageSize, v.ImageSize); err != nil {
		return v, fmt.Errorf("vision_config: %w", err)
	}
	if v.Patch, err = hf.SquareSide("patch_size", sides.PatchSize, v.Patch); err != nil {
		return v, fmt.Errorf("vision_config: %w", err)
	}
	if err := v.check(D); err != nil {
		return v, fmt.Errorf("vision_config: %w", err)
	}
	return v, nil
}

// readSpecialIDs sets the ids of guided generation: text_config's bos_token_id and
// pad_token_id, then generation_config.json's (genJS, when the folder has one) with its
// boi_token_id.
func (c *Config) readSpecialIDs(genJS []byte) error {
	t := c.Text
	c.BOS, c.PAD, c.BOI = -1, -1, -1
	hf.Override(&c.BOS, t.BOS)
	hf.Override(&c.PAD, t.PAD)
	if len(genJS) > 0 {
		var gc struct {
			BOS    *int `json:"bos_token_id"`
			PAD    *int `json:"pad_token_id"`
			BOI    *int `json:"boi_token_id"`
			Kwargs struct {
				BOI *int `json:"boi_token_id"`
			} `json:"generation_kwargs"`
		}
		if err := json.Unmarshal(genJS, &gc); err != nil {
			return fmt.Errorf("generation_config.json: %v", err)
		}
		hf.Override(&c.BOS, gc.BOS)
		hf.Override(&c.PAD, gc.PAD)
		hf.Override(&c.BOI, gc.BOI)
		hf.Override(&c.BOI, gc.Kwargs.BOI) // what transformers' generate reads
	}
	for _, f := range []struct {
		name string
		id   int
	}{{"bos_token_id", c.BOS}, {"pad_token_id", c.PAD}, {"boi_token_id", c.BOI}} {
		if f.id >= t.Vocab || f.id < -1 {
			return fmt.Errorf("%s %d outside the vocabulary of %d", f.name, f.id, t.Vocab)
		}
	}
	return nil
}

// check checks vision_config against the decoder's width D.
func (v VisionConfig) check(D int) error {
	switch {
	case v.D < 1 || v.Layers < 1 || v.H < 1 || v.Channels < 1 || v.ImageSize < 1 || v.Patch < 1 || v.Depth < 1 || v.F() < 1:
		return fmt.Errorf("hidden_size, num_hidden_layers, num_attention_heads, num_channels, image_size, patch_size, depth and hidden_size * mlp_ratio must be positive")
	case v.D%v.H != 0:
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", v.D, v.H)
	case v.ImageSize%v.Patch != 0:
		return fmt.Errorf("image_size %d is not a multiple of patch_size %d", v.ImageSize, v.Patch)
	case v.Tokens != v.Grid()*v.Grid():
		return fmt.Errorf("num_image_tokens %d is not (image_size / patch_size)^2 = %d", v.Tokens, v.Grid()*v.Grid())
	case v.Eps <= 0:
		return fmt.Errorf("layer_norm_eps must be positive")
	case !hf.KnownActivation(v.Act):
		return fmt.Errorf("hidden_act %q is not implemented (gelu, gelu_pytorch_tanh, gelu_new, quick_gelu)", v.Act)
	case v.ProjDim != D:
		return fmt.Errorf("projection_dim %d differs from text_config.hidden_size %d (the aligner's output replaces token embeddings)", v.ProjDim, D)
	case v.QKNorm:
		// transformers applies LayerNorm(hidden_size) to per-head vectors of width
		// hidden_size / num_attention_heads, which runs only with one head.
		return fmt.Errorf("use_qk_norm is not implemented")
	case v.InitRange <= 0:
		return fmt.Errorf("initializer_range must be positive")
	}
	return nil
}

// checkGen checks the fields of vq_config that shape the generation path against the decoder's
// width D.
func (g VQConfig) checkGen(D int) error {
	switch {
	case g.NumHiddenLayers < 1:
		return fmt.Errorf("num_hidden_layers must be positive")
	case g.ProjectionDim != D:
		return fmt.Errorf("projection_dim %d differs from text_config.hidden_size %d (generation_aligner's output is an input embedding)", g.ProjectionDim, D)
	case g.ImageTokenEmbedDim != D:
		return fmt.Errorf("image_token_embed_dim %d differs from text_config.hidden_size %d (generation_head reads the decoder's hidden state)", g.ImageTokenEmbedDim, D)
	case !hf.KnownActivation(g.HiddenAct):
		return fmt.Errorf("hidden_act %q is not implemented (gelu, gelu_pytorch_tanh, gelu_new, quick_gelu)", g.HiddenAct)
	}
	return nil
}
