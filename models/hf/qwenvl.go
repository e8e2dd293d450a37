package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration): a windowed ViT (qwenvl_vision.go) whose
// merged patch features replace the <|image_pad|> token embeddings of a Qwen2 language model
// with multimodal rotary positions (M-RoPE: each token has a temporal, a height and a width
// position, and the rotary frequencies are split into three sections, one per axis).
//
// Below, N is the number of patches of the images (rows of pixel_values), M = N / merge^2 the
// merged tokens that enter the language model, Dv the vision width.

// QwenVLConfig is what a Qwen2.5-VL config.json says of the model.
type QwenVLConfig struct {
	Text         LMConfig // the language model (read as a qwen2 model: q/k/v biases, no o bias)
	MropeSection []int    // rotary frequency pairs given to the t, h and w positions (sum Dh/2)
	Vision       QwenVisionConfig
	ImageToken   int // <|image_pad|>
	VideoToken   int // <|video_pad|>
	VisionStart  int // <|vision_start|>
	VisionEnd    int // <|vision_end|>
}

// QwenVisionConfig is the vision tower's part of config.json (vision_config), with
// Qwen2_5_VLVisionConfig's defaults for what it leaves out.
type QwenVisionConfig struct {
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

// qwenVisionDefaults are Qwen2_5_VLVisionConfig's defaults.
func qwenVisionDefaults() QwenVisionConfig {
	return QwenVisionConfig{Depth: 32, D: 3584, F: 3420, H: 16, Channels: 3, Patch: 14, Merge: 2,
		TemporalPatch: 2, Window: 112, OutD: 3584, FullAtt: []int{7, 15, 23, 31}, Act: "silu",
		TokensPerSecond: 4, RopeTheta: 10000}
}

// ReadQwenVLConfig reads and checks dir/config.json of a Qwen2.5-VL folder: the transformers 5
// layout (text_config, vision_config, rope_parameters) or the original one (the language model's
// fields at the top level, rope_scaling {type: mrope, mrope_section}).
func ReadQwenVLConfig(dir string) (QwenVLConfig, error) {
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return QwenVLConfig{}, fmt.Errorf("hf: %w (a Hugging Face model folder has a config.json)", err)
	}
	c, err := parseQwenVLConfig(js)
	if err != nil {
		return QwenVLConfig{}, fmt.Errorf("hf: %s: %w", path, err)
	}
	return c, nil
}

func parseQwenVLConfig(js []byte) (QwenVLConfig, error) {
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
		return QwenVLConfig{}, err
	}
	if top.ModelType != "qwen2_5_vl" {
		return QwenVLConfig{}, fmt.Errorf("model_type %q is not qwen2_5_vl", top.ModelType)
	}
	var c QwenVLConfig
	for _, f := range []struct {
		dst  *int
		src  *int
		name string
	}{{&c.ImageToken, top.ImageToken, "image_token_id"}, {&c.VideoToken, top.VideoToken, "video_token_id"},
		{&c.VisionStart, top.VisionStart, "vision_start_token_id"}, {&c.VisionEnd, top.VisionEnd, "vision_end_token_id"}} {
		if f.src == nil {
			return QwenVLConfig{}, fmt.Errorf("no %s", f.name)
		}
		*f.dst = *f.src
	}
	// The language model: text_config, or the top level in the original layout.
	textJS := []byte(top.Text)
	if len(top.Text) == 0 || string(top.Text) == "null" {
		textJS = js
	}
	var rope struct {
		Params  map[string]json.RawMessage `json:"rope_parameters"`
		Scaling map[string]json.RawMessage `json:"rope_scaling"`
	}
	if err := json.Unmarshal(textJS, &rope); err != nil {
		return QwenVLConfig{}, fmt.Errorf("text_config: %v", err)
	}
	var t LMConfig
	if err := json.Unmarshal(textJS, &t); err != nil {
		return QwenVLConfig{}, fmt.Errorf("text_config: %v", err)
	}
	for _, m := range []map[string]json.RawMessage{rope.Params, rope.Scaling} {
		if s, ok := m["mrope_section"]; ok {
			if err := json.Unmarshal(s, &c.MropeSection); err != nil {
				return QwenVLConfig{}, fmt.Errorf("mrope_section: %v", err)
			}
		}
		for _, key := range []string{"rope_type", "type"} {
			if v, ok := m[key]; ok {
				var typ string
				_ = json.Unmarshal(v, &typ)
				if typ != "default" && typ != "mrope" && typ != "" {
					return QwenVLConfig{}, fmt.Errorf("text rope type %q is not implemented (only the default M-RoPE)", typ)
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
		return QwenVLConfig{}, fmt.Errorf("text model_type %q is not qwen2_5_vl_text", t.ModelType)
	}
	// The text model is a qwen2 decoder: q/k/v biases, no o_proj bias, no MLP bias.
	t.ModelType, t.AttnBias, t.MLPBias = "qwen2", false, false
	if t.Dh == 0 && t.H > 0 {
		t.Dh = t.D / t.H
	}
	if t.KV == 0 {
		t.KV = t.H
	}
	if err := t.check(); err != nil {
		return QwenVLConfig{}, fmt.Errorf("text_config: %w", err)
	}
	if t.D != t.H*t.Dh {
		return QwenVLConfig{}, fmt.Errorf("text_config: hidden_size %d is not num_attention_heads %d x head_dim %d", t.D, t.H, t.Dh)
	}
	c.Text = t
	sum := 0
	for _, s := range c.MropeSection {
		sum += s
	}
	if len(c.MropeSection) != 3 || sum != t.Dh/2 {
		return QwenVLConfig{}, fmt.Errorf("mrope_section %v must be three sizes summing to head_dim/2 = %d", c.MropeSection, t.Dh/2)
	}
	// The vision tower.
	v := qwenVisionDefaults()
	if len(top.Vision) > 0 && string(top.Vision) != "null" {
		if err := json.Unmarshal(top.Vision, &v); err != nil {
			return QwenVLConfig{}, fmt.Errorf("vision_config: %v", err)
		}
	}
	if v.RopeParams != nil && v.RopeParams.Theta > 0 {
		v.RopeTheta = v.RopeParams.Theta
	}
	switch {
	case v.Depth < 1 || v.D < 1 || v.F < 1 || v.H < 1 || v.Channels < 1 || v.Patch < 1 || v.Merge < 1 || v.TemporalPatch < 1 || v.OutD < 1:
		return QwenVLConfig{}, fmt.Errorf("vision_config: depth, hidden_size, intermediate_size, num_heads, in_channels, patch_size, spatial_merge_size, temporal_patch_size and out_hidden_size must be positive")
	case v.D%v.H != 0 || (v.D/v.H)%4 != 0:
		return QwenVLConfig{}, fmt.Errorf("vision_config: hidden_size %d / num_heads %d must be a multiple of 4 (2-D rotary embeddings)", v.D, v.H)
	case v.Act != "silu":
		return QwenVLConfig{}, fmt.Errorf("vision_config: hidden_act %q: only silu is implemented", v.Act)
	case v.Window < v.Patch*v.Merge || v.Window%(v.Patch*v.Merge) != 0:
		return QwenVLConfig{}, fmt.Errorf("vision_config: window_size %d must be a multiple of patch_size x spatial_merge_size = %d", v.Window, v.Patch*v.Merge)
	case v.OutD != t.D:
		return QwenVLConfig{}, fmt.Errorf("vision_config: out_hidden_size %d differs from the text hidden_size %d", v.OutD, t.D)
	}
	for _, i := range v.FullAtt {
		if i < 0 || i >= v.Depth {
			return QwenVLConfig{}, fmt.Errorf("vision_config: fullatt_block_indexes holds %d, outside depth %d", i, v.Depth)
		}
	}
	c.Vision = v
	for _, id := range []int{c.ImageToken, c.VisionStart, c.VisionEnd} {
		if id < 0 || id >= t.Vocab {
			return QwenVLConfig{}, fmt.Errorf("special token id %d outside the vocabulary of %d", id, t.Vocab)
		}
	}
	return c, nil
}

// QwenVL is a Qwen2.5-VL model: the vision tower and the language model, whose weights share one
// arena (the LM's).
type QwenVL struct {
	cfg    QwenVLConfig
	lm     *LM // the language model; its arena owns every weight
	vision qwenVision
}

// LoadQwenVL reads a Qwen2_5_VLForConditionalGeneration folder onto dev, with weights and
// activations in kind (raw.Float32 or raw.BFloat16). Every tensor config.json implies must be
// present with its shape, and the folder may hold no other. Both weight layouts are read: the
// original one (model.layers.*, visual.*) that transformers writes, and its in-memory one
// (model.language_model.*, model.visual.*).
func LoadQwenVL(dir string, dev gotch.Device, kind raw.Kind) (*QwenVL, error) {
	cfg, err := ReadQwenVLConfig(dir)
	if err != nil {
		return nil, err
	}
	ws, err := OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	text, vis, err := qwenVLSplitWeights(ws)
	if err != nil {
		return nil, err
	}
	lm := &LM{cfg: cfg.Text, dev: dev, kind: kind, w: raw.New(dev.CInt()), names: map[string]raw.Tensor{}}
	m := &QwenVL{cfg: cfg, lm: lm}
	if err := lm.load(text); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.vision.load(vis, cfg.Vision, lm.w, kind); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// qwenVLSplitWeights splits a folder's tensors into the language model's, under the names LM.load
// reads (model.*, lm_head.weight), and the vision tower's (visual.*). The views share the
// folder's mapped files; only ws is to be closed.
func qwenVLSplitWeights(ws *Weights) (text, vis *Weights, err error) {
	text = &Weights{dir: ws.dir, tensors: map[string]*stTensor{}}
	vis = &Weights{dir: ws.dir, tensors: map[string]*stTensor{}}
	for name, t := range ws.tensors {
		dst, n := text, name
		switch {
		case strings.HasPrefix(name, "model.language_model."):
			n = "model." + strings.TrimPrefix(name, "model.language_model.")
		case strings.HasPrefix(name, "model.visual."):
			dst, n = vis, strings.TrimPrefix(name, "model.")
		case strings.HasPrefix(name, "visual."):
			dst = vis
		}
		if _, dup := dst.tensors[n]; dup {
			return nil, nil, fmt.Errorf("hf: %s holds tensor %s twice (as %s and in the other layout)", ws.dir, n, name)
		}
		dst.tensors[n] = t
	}
	return text, vis, nil
}

// Config returns the model's config.
func (m *QwenVL) Config() QwenVLConfig { return m.cfg }

// Close frees the weights.
func (m *QwenVL) Close() {
	if m.lm != nil {
		m.lm.Close()
	}
}

// MRoPE holds the multimodal rotary positions of a batch: Pos[a][b][t] is token t of row b's
// position on axis a (0 time, 1 height, 2 width).
type MRoPE [3][][]int

// RopeIndex is transformers' get_rope_index for a batch of rows (left padding allowed: mask 0)
// holding images: text tokens count up one by one on all three axes; the M merged tokens of an
// image (a run of <|image_pad|>, the images in grids' order across the rows) get the position
// (s, s + h, s + w) of their place (h, w) in the image's merged grid, where s is the position
// the image starts at (time stays at s for a still image); the text after an image continues
// from the largest position so far + 1. Padding gets position 1. delta[b] is the position of
// row b's next token minus its index in the row (the offset new tokens continue with).
func (c QwenVLConfig) RopeIndex(ids, mask [][]int, grids [][3]int) (pos MRoPE, delta []int, err error) {
	B := len(ids)
	for a := range pos {
		pos[a] = make([][]int, B)
	}
	delta = make([]int, B)
	ms := c.Vision.Merge
	img := 0
	for b, row := range ids {
		T := len(row)
		for a := range pos {
			pos[a][b] = make([]int, T)
			for t := range pos[a][b] {
				pos[a][b][t] = 1
			}
		}
		next := 0 // the next text position
		for t := 0; t < T; {
			if mask != nil && mask[b][t] == 0 {
				t++
				continue
			}
			if row[t] != c.ImageToken {
				for a := range pos {
					pos[a][b][t] = next
				}
				next++
				t++
				continue
			}
			if img >= len(grids) {
				return pos, nil, fmt.Errorf("hf: the prompts hold more images than the %d given", len(grids))
			}
			g := grids[img]
			img++
			gt, gh, gw := g[0], g[1]/ms, g[2]/ms
			n := gt * gh * gw
			if t+n > T {
				return pos, nil, fmt.Errorf("hf: row %d: an image of %d tokens at position %d of %d", b, n, t, T)
			}
			top := next
			for k := range n {
				i := t + k
				if row[i] != c.ImageToken || (mask != nil && mask[b][i] == 0) {
					return pos, nil, fmt.Errorf("hf: row %d: image %d needs %d <|image_pad|> tokens in a row from position %d", b, img-1, n, t)
				}
				hh, ww := (k/gw)%gh, k%gw
				// Time: frame * second_per_grid_t * tokens_per_second, with second_per_grid_t 0 for images.
				pos[0][b][i], pos[1][b][i], pos[2][b][i] = next, next+hh, next+ww
				top = max(top, next+hh, next+ww)
			}
			next = top + 1
			t += n
		}
		delta[b] = next - T
	}
	if img != len(grids) {
		return pos, nil, fmt.Errorf("hf: %d images given, the prompts hold %d", len(grids), img)
	}
	return pos, delta, nil
}

// sortedKeys returns a map's keys sorted (error messages).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
