package shape

import (
	"encoding/json"
	"fmt"
)

// Decoder is the shape of a Llama- or Qwen2-family decoder, as hf.LMConfig reads it.
type Decoder struct {
	Vocab, D, F, Layers int
	H, KV, Dh           int  // query heads, key/value heads, head width
	Tied                bool // lm_head is the embedding table (tie_word_embeddings)
	QKVBias             bool // q, k, v projections carry biases (qwen2, or llama's attention_bias)
	OBias               bool // o_proj carries a bias (llama's attention_bias)
	MLPBias             bool // gate, up and down carry biases (llama's mlp_bias)
}

// lmJSON is the part of a language model's config that shapes its tensors.
type lmJSON struct {
	ModelType string `json:"model_type"`
	Vocab     int    `json:"vocab_size"`
	D         int    `json:"hidden_size"`
	F         int    `json:"intermediate_size"`
	Layers    int    `json:"num_hidden_layers"`
	H         int    `json:"num_attention_heads"`
	KV        int    `json:"num_key_value_heads"`
	Dh        int    `json:"head_dim"`
	Tie       *bool  `json:"tie_word_embeddings"`
	AttnBias  bool   `json:"attention_bias"`
	MLPBias   bool   `json:"mlp_bias"`
}

// decoder completes j as hf.ReadLMConfig does (head_dim D/H, key/value heads H) and checks it.
func (j lmJSON) decoder(qkvBias bool, tied bool) (Decoder, error) {
	if j.Dh == 0 && j.H > 0 {
		j.Dh = j.D / j.H
	}
	if j.KV == 0 {
		j.KV = j.H
	}
	d := Decoder{Vocab: j.Vocab, D: j.D, F: j.F, Layers: j.Layers, H: j.H, KV: j.KV, Dh: j.Dh, Tied: tied,
		QKVBias: qkvBias || j.AttnBias, OBias: j.AttnBias, MLPBias: j.MLPBias}
	switch {
	case d.Vocab < 1 || d.D < 1 || d.F < 1 || d.Layers < 1 || d.H < 1 || d.KV < 1 || d.Dh < 1:
		return d, fmt.Errorf("vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and num_key_value_heads must be positive")
	case d.H%d.KV != 0:
		return d, fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", d.H, d.KV)
	}
	return d, nil
}

// readLM reads a llama or qwen2 config.json.
func readLM(js []byte) (Decoder, error) {
	var j lmJSON
	if err := json.Unmarshal(js, &j); err != nil {
		return Decoder{}, err
	}
	tied := j.Tie != nil && *j.Tie // LMConfig's zero value: untied unless the file says so
	return j.decoder(j.ModelType == "qwen2", tied)
}

// qwenVision is a Qwen2.5-VL vision_config, with Qwen2_5_VLVisionConfig's defaults.
type qwenVision struct {
	Depth    int `json:"depth"`
	D        int `json:"hidden_size"`
	F        int `json:"intermediate_size"`
	H        int `json:"num_heads"`
	Channels int `json:"in_channels"`
	Patch    int `json:"patch_size"`
	Merge    int `json:"spatial_merge_size"`
	Temporal int `json:"temporal_patch_size"`
	OutD     int `json:"out_hidden_size"`
}

// readQwenVL reads a qwen2_5_vl config.json: the language model from text_config or, in the
// original layout, the top level; the vision tower from vision_config.
func readQwenVL(js []byte) (Decoder, qwenVision, error) {
	var top struct {
		Text   json.RawMessage `json:"text_config"`
		Vision json.RawMessage `json:"vision_config"`
	}
	if err := json.Unmarshal(js, &top); err != nil {
		return Decoder{}, qwenVision{}, err
	}
	textJS := []byte(top.Text)
	if len(top.Text) == 0 || string(top.Text) == "null" {
		textJS = js
	}
	var j lmJSON
	if err := json.Unmarshal(textJS, &j); err != nil {
		return Decoder{}, qwenVision{}, fmt.Errorf("text_config: %v", err)
	}
	// The text model is a qwen2 decoder: q/k/v biases, no o_proj or MLP bias.
	j.AttnBias, j.MLPBias = false, false
	d, err := j.decoder(true, j.Tie != nil && *j.Tie)
	if err != nil {
		return d, qwenVision{}, fmt.Errorf("text_config: %w", err)
	}
	v := qwenVision{Depth: 32, D: 3584, F: 3420, H: 16, Channels: 3, Patch: 14, Merge: 2, Temporal: 2, OutD: 3584}
	if len(top.Vision) > 0 && string(top.Vision) != "null" {
		if err := json.Unmarshal(top.Vision, &v); err != nil {
			return d, v, fmt.Errorf("vision_config: %v", err)
		}
	}
	if v.Depth < 1 || v.D < 1 || v.F < 1 || v.Channels < 1 || v.Patch < 1 || v.Merge < 1 || v.Temporal < 1 || v.OutD < 1 {
		return d, v, fmt.Errorf("vision_config: depth, hidden_size, intermediate_size, in_channels, patch_size, spatial_merge_size, temporal_patch_size and out_hidden_size must be positive")
	}
	return d, v, nil
}

// janusVision is a Janus vision_config, with JanusVisionConfig's defaults.
type janusVision struct {
	D        int     `json:"hidden_size"`
	Layers   int     `json:"num_hidden_layers"`
	Channels int     `json:"num_channels"`
	MLPRatio float64 `json:"mlp_ratio"`
	AttnBias bool    `json:"attention_bias"`
	Depth    int     `json:"depth"`            // the aligner's Linear layers
	Tokens   int     `json:"num_image_tokens"` // features per image
	Image    int     `json:"-"`
	Patch    int     `json:"-"`
}

// F is the width of the tower's MLP, as janus.VisionConfig.F computes it.
func (v janusVision) F() int { return int(float64(v.D) * v.MLPRatio) }

// janusVQ is a Janus vq_config, with JanusVQVAEConfig's defaults.
type janusVQ struct {
	EmbedDim      int   `json:"embed_dim"`
	NumEmbeddings int   `json:"num_embeddings"`
	Latent        int   `json:"latent_channels"`
	InChannels    int   `json:"in_channels"`
	OutChannels   int   `json:"out_channels"`
	Base          int   `json:"base_channels"`
	Mult          []int `json:"channel_multiplier"`
	ResBlocks     int   `json:"num_res_blocks"`
	GenLayers     int   `json:"num_hidden_layers"` // the generation aligner's Linear layers
}

// readJanus reads a janus config.json (transformers' JanusConfig layout).
func readJanus(js []byte) (Decoder, janusVision, janusVQ, error) {
	var top struct {
		Text   json.RawMessage `json:"text_config"`
		Vision json.RawMessage `json:"vision_config"`
		VQ     json.RawMessage `json:"vq_config"`
		Tie    *bool           `json:"tie_word_embeddings"`
	}
	if err := json.Unmarshal(js, &top); err != nil {
		return Decoder{}, janusVision{}, janusVQ{}, err
	}
	for _, sub := range []*json.RawMessage{&top.Text, &top.Vision, &top.VQ} {
		if len(*sub) == 0 || string(*sub) == "null" {
			*sub = json.RawMessage("{}")
		}
	}
	// text_config: LlamaConfig's defaults, then the file's.
	j := lmJSON{Vocab: 32000, D: 4096, F: 11008, Layers: 32, H: 32}
	if err := json.Unmarshal(top.Text, &j); err != nil {
		return Decoder{}, janusVision{}, janusVQ{}, fmt.Errorf("text_config: %v", err)
	}
	// Tied head: the top level's tie_word_embeddings, else text_config's, else true (as
	// janus.parseText decides).
	tied := true
	switch {
	case top.Tie != nil:
		tied = *top.Tie
	case j.Tie != nil:
		tied = *j.Tie
	}
	d, err := j.decoder(false, tied)
	if err != nil {
		return d, janusVision{}, janusVQ{}, fmt.Errorf("text_config: %w", err)
	}
	v, err := readJanusVision(top.Vision)
	if err != nil {
		return d, v, janusVQ{}, err
	}
	q := janusVQ{EmbedDim: 8, NumEmbeddings: 16384, Latent: 256, InChannels: 3, OutChannels: 3, Base: 128, ResBlocks: 2, GenLayers: 2}
	if err := json.Unmarshal(top.VQ, &q); err != nil {
		return d, v, q, fmt.Errorf("vq_config: %v", err)
	}
	if q.Mult == nil {
		q.Mult = []int{1, 1, 2, 2, 4}
	}
	if q.EmbedDim < 1 || q.NumEmbeddings < 1 || q.Latent < 1 || q.InChannels < 1 || q.OutChannels < 1 || q.Base < 1 || q.ResBlocks < 1 || q.GenLayers < 1 || len(q.Mult) == 0 {
		return d, v, q, fmt.Errorf("vq_config: embed_dim, num_embeddings, latent_channels, in_channels, out_channels, base_channels, num_res_blocks, num_hidden_layers and channel_multiplier must be positive")
	}
	return d, v, q, nil
}

// readJanusVision reads vision_config with JanusVisionConfig's defaults.
func readJanusVision(js json.RawMessage) (janusVision, error) {
	v := janusVision{D: 1024, Layers: 24, Channels: 3, MLPRatio: 4, AttnBias: true, Depth: 2, Tokens: 576, Image: 384, Patch: 16}
	if err := json.Unmarshal(js, &v); err != nil {
		return v, fmt.Errorf("vision_config: %v", err)
	}
	var sides struct {
		Image json.RawMessage `json:"image_size"`
		Patch json.RawMessage `json:"patch_size"`
	}
	_ = json.Unmarshal(js, &sides)
	var err error
	if v.Image, err = squareSide("image_size", sides.Image, v.Image); err != nil {
		return v, fmt.Errorf("vision_config: %w", err)
	}
	if v.Patch, err = squareSide("patch_size", sides.Patch, v.Patch); err != nil {
		return v, fmt.Errorf("vision_config: %w", err)
	}
	if v.D < 1 || v.Layers < 1 || v.Channels < 1 || v.Depth < 1 || v.F() < 1 || v.Patch < 1 || v.Image%v.Patch != 0 {
		return v, fmt.Errorf("vision_config: hidden_size, num_hidden_layers, num_channels, depth and hidden_size * mlp_ratio must be positive, image_size a multiple of patch_size")
	}
	return v, nil
}

// squareSide reads a number or [h, w] with h == w (hf.SquareSide); def when absent.
func squareSide(name string, js json.RawMessage, def int) (int, error) {
	if len(js) == 0 || string(js) == "null" {
		return def, nil
	}
	var n int
	if json.Unmarshal(js, &n) == nil {
		return n, nil
	}
	var hw []int
	if err := json.Unmarshal(js, &hw); err != nil || len(hw) != 2 || hw[0] != hw[1] {
		return 0, fmt.Errorf("%s %s: want a number or a square [height, width]", name, js)
	}
	return hw[0], nil
}
