package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// ViTConfig is what a vision encoder's config.json says of its shape, for the families read
// here: CLIP's vision tower (model_type clip_vision_model, or the vision_config of a clip
// model), DINOv2 (dinov2) and SigLIP's vision tower (siglip_vision_model, or the vision_config
// of a siglip model). Below, S is the input side in pixels, P the patch side, G = S/P the patch
// grid's side, N = G*G patches and T the tokens (N, plus the class token of CLIP and DINOv2).
type ViTConfig struct {
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
func (c ViTConfig) Grid() int { return c.ImageSize / c.Patch }

// vitConfigJSON holds config.json's fields; pointers tell a missing field (the class default)
// from a zero.
type vitConfigJSON struct {
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

// ReadViTConfig reads and checks dir/config.json, filling the fields it leaves out with the
// defaults of transformers' config classes.
func ReadViTConfig(dir string) (ViTConfig, error) {
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return ViTConfig{}, fmt.Errorf("hf: %w (a Hugging Face model folder has a config.json)", err)
	}
	c, err := parseViTConfig(js)
	if err != nil {
		return ViTConfig{}, fmt.Errorf("hf: %s: %w", path, err)
	}
	return c, nil
}

func parseViTConfig(js []byte) (ViTConfig, error) {
	var top vitConfigJSON
	if err := json.Unmarshal(js, &top); err != nil {
		return ViTConfig{}, err
	}
	j, outer, proj := top, "", 0
	switch top.ModelType {
	case "clip", "siglip": // a full two-tower folder: read its vision tower
		if len(top.Vision) == 0 || string(top.Vision) == "null" {
			return ViTConfig{}, fmt.Errorf("model_type %s without a vision_config", top.ModelType)
		}
		j = vitConfigJSON{}
		if err := json.Unmarshal(top.Vision, &j); err != nil {
			return ViTConfig{}, fmt.Errorf("vision_config: %v", err)
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
	c := ViTConfig{ModelType: j.ModelType, outer: outer, Channels: 3}
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
		return ViTConfig{}, fmt.Errorf("no model_type")
	default:
		return ViTConfig{}, fmt.Errorf("model_type %q is not a vision encoder family read here (clip_vision_model, dinov2, siglip_vision_model, or the vision tower of clip and siglip)", c.ModelType)
	}
	Override(&c.D, j.Hidden)
	Override(&c.F, j.Inter)
	Override(&c.Layers, j.Layers)
	Override(&c.H, j.Heads)
	Override(&c.Channels, j.Channels)
	Override(&c.Proj, j.Proj)
	if outer == "clip" {
		c.Proj = proj
	}
	Override(&c.Act, j.Act)
	Override(&c.Eps, j.Eps)
	if j.QKVBias != nil && c.ModelType == "dinov2" {
		c.QKVBias = *j.QKVBias
	}
	if j.MaskToken != nil && c.ModelType == "dinov2" {
		c.MaskToken = *j.MaskToken
	}
	var err error
	if c.ImageSize, err = vitSquareSide("image_size", j.ImageSize, c.ImageSize); err != nil {
		return ViTConfig{}, err
	}
	if c.Patch, err = vitSquareSide("patch_size", j.PatchSize, c.Patch); err != nil {
		return ViTConfig{}, err
	}
	if c.ModelType == "dinov2" {
		ratio := 4.0
		if j.MLPRatio != nil {
			ratio = *j.MLPRatio
		}
		c.F = int(float64(c.D) * ratio)
		if j.SwiGLU {
			return ViTConfig{}, fmt.Errorf("use_swiglu_ffn (DINOv2 giant's SwiGLU MLP) is not implemented")
		}
	}
	if c.ModelType == "siglip_vision_model" && j.UseHead != nil && !*j.UseHead {
		return ViTConfig{}, fmt.Errorf("vision_use_head false: a SigLIP tower without its attention-pooling head has no pooled output to embed (not implemented)")
	}
	return c, c.check()
}

// vitSquareSide reads image_size or patch_size: a number, or [h, w] with h == w.
func vitSquareSide(name string, js json.RawMessage, def int) (int, error) {
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

func (c ViTConfig) check() error {
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
	switch c.Act {
	case "quick_gelu", "gelu", "gelu_pytorch_tanh", "gelu_new":
	default:
		return fmt.Errorf("hidden_act %q is not implemented (quick_gelu, gelu, gelu_pytorch_tanh, gelu_new)", c.Act)
	}
	return nil
}

// ViT is a vision transformer encoder of one of the families ViTConfig lists: patch embedding
// (a strided convolution), position embeddings (and a class token for CLIP and DINOv2), L
// pre-norm encoder layers (LayerNorm, multi-head self-attention, LayerNorm, MLP; DINOv2 scales
// each branch by its layer scale) and the family's pooling: CLIP's post_layernorm of the class
// token and visual_projection, DINOv2's final LayerNorm (its class token is the pooled output),
// SigLIP's post_layernorm and attention-pooling head.
type ViT struct {
	cfg  ViTConfig
	pre  *ViTImageProcessor // nil when the folder has no preprocessor_config.json
	dev  gotch.Device
	kind raw.Kind   // the dtype of weights and activations
	w    *raw.Arena // owns the weights

	patchW, patchB raw.Tensor // [D, C, P, P], [D] (nil for CLIP): float32
	cls            raw.Tensor // [1, 1, D]: CLIP's class_embedding, DINOv2's cls_token; nil for SigLIP
	pos            raw.Tensor // [1, T, D] at the trained grid
	preNorm        *vitNorm   // CLIP's pre_layrnorm
	layers         []vitLayer
	postNorm       *vitNorm   // CLIP's post_layernorm, DINOv2's layernorm, SigLIP's post_layernorm
	proj           raw.Tensor // CLIP's visual_projection [Proj, D], nil when the folder has none
	head           *vitHead   // SigLIP's attention-pooling head

	names map[string]bool // every tensor of the folder this model reads or accepts
}

// vitNorm is a LayerNorm's weight and bias, kept in float32: every norm runs in float32.
type vitNorm struct{ w, b raw.Tensor }

type vitLayer struct {
	ln1, ln2   vitNorm
	q, k, v, o linear
	fc1, fc2   linear
	ls1, ls2   raw.Tensor // DINOv2's layer scales [D]; nil for the other families
}

// vitHead is SigLIP's multi-head attention pooling: a learned probe attends over the tokens
// (torch's MultiheadAttention, its packed in_proj split into q, k, v), then a residual MLP.
type vitHead struct {
	probe      raw.Tensor // [1, 1, D]
	q, k, v, o linear
	ln         vitNorm
	fc1, fc2   linear
}

// LoadViT reads a CLIP vision, DINOv2 or SigLIP vision model folder onto dev, with weights and
// activations in kind (raw.Float32 or raw.BFloat16; LayerNorms, softmax and the patch
// convolution run in float32). Every tensor config.json implies must be present with its
// shape, and the folder may hold no other, except the text tower of a full CLIP or SigLIP
// folder and the classifier of a DINOv2 classification folder, which are not read.
// preprocessor_config.json, when present, gives the preprocessing Embed applies.
func LoadViT(dir string, dev gotch.Device, kind raw.Kind) (*ViT, error) {
	cfg, err := ReadViTConfig(dir)
	if err != nil {
		return nil, err
	}
	var pre *ViTImageProcessor
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err == nil {
		if pre, err = LoadViTImageProcessor(dir); err != nil {
			return nil, err
		}
	}
	ws, err := OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	v := &ViT{cfg: cfg, pre: pre, dev: dev, kind: kind, w: raw.New(dev.CInt()), names: map[string]bool{}}
	if err := v.load(ws, dir); err != nil {
		v.Close()
		return nil, err
	}
	if err := v.checkProcessor(); err != nil {
		v.Close()
		return nil, fmt.Errorf("hf: %s: %w", filepath.Join(dir, "preprocessor_config.json"), err)
	}
	return v, nil
}

// prefix finds where the vision tower's tensors live in the folder: transformers writes CLIP's
// (and older SigLIP's) under vision_model., a DINOv2 classification model's under dinov2.
func (v *ViT) prefix(ws *Weights) (string, error) {
	probe := "embeddings.patch_embedding.weight"
	cands := []string{"vision_model.", ""}
	if v.cfg.ModelType == "dinov2" {
		probe, cands = "embeddings.patch_embeddings.projection.weight", []string{"", "dinov2."}
	}
	for _, p := range cands {
		if _, ok := ws.Shape(p + probe); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("hf: %s has no tensor %s (under %s): not a %s checkpoint", ws.dir, probe, strings.Join(vitQuoted(cands), " or "), v.cfg.ModelType)
}

func vitQuoted(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

func (v *ViT) load(ws *Weights, dir string) error {
	c := v.cfg
	D, F, C, P := int64(c.D), int64(c.F), int64(c.Channels), int64(c.Patch)
	G := int64(c.Grid())
	p, err := v.prefix(ws)
	if err != nil {
		return err
	}
	get := func(name string, kind raw.Kind, shape ...int64) raw.Tensor {
		if err != nil {
			return nil
		}
		var t raw.Tensor
		if t, err = ws.Load(v.w, name, kind, shape...); err == nil {
			v.names[name] = true
		}
		return t
	}
	// expect checks a tensor that is part of the checkpoint but not used here.
	expect := func(name string, shape ...int64) {
		if err != nil {
			return
		}
		got, ok := ws.Shape(name)
		switch {
		case !ok:
			err = fmt.Errorf("hf: %s has no tensor %s", dir, name)
		case !sameShape(got, shape):
			err = fmt.Errorf("hf: tensor %s has shape %v, but config.json implies %v", name, got, shape)
		default:
			v.names[name] = true
		}
	}
	// view and narrow make views of loaded weights (skipped after an error).
	view := func(t raw.Tensor, shape ...int64) raw.Tensor {
		if err != nil {
			return nil
		}
		t = v.w.View(t, shape...)
		err = v.w.Err()
		return t
	}
	narrow := func(t raw.Tensor, dim, start, n int64) raw.Tensor {
		if err != nil {
			return nil
		}
		t = v.w.Narrow(t, dim, start, n)
		err = v.w.Err()
		return t
	}
	lin := func(name string, out, in int64, bias bool) linear {
		l := linear{w: get(name+".weight", v.kind, out, in)}
		if bias {
			l.b = get(name+".bias", v.kind, out)
		}
		return l
	}
	norm := func(name string) vitNorm {
		return vitNorm{w: get(name+".weight", raw.Float32, D), b: get(name+".bias", raw.Float32, D)}
	}
	switch c.ModelType {
	case "clip_vision_model", "siglip_vision_model":
		clip := c.ModelType == "clip_vision_model"
		e := p + "embeddings."
		v.patchW = get(e+"patch_embedding.weight", raw.Float32, D, C, P, P)
		T := G * G
		if clip {
			T++
			v.cls = view(get(e+"class_embedding", v.kind, D), 1, 1, D)
		} else {
			v.patchB = get(e+"patch_embedding.bias", raw.Float32, D)
		}
		v.pos = view(get(e+"position_embedding.weight", v.kind, T, D), 1, T, D)
		if clip {
			pn := norm(p + "pre_layrnorm")
			v.preNorm = &pn
		}
		for i := 0; i < c.Layers; i++ {
			l := fmt.Sprintf("%sencoder.layers.%d.", p, i)
			v.layers = append(v.layers, vitLayer{
				ln1: norm(l + "layer_norm1"),
				q:   lin(l+"self_attn.q_proj", D, D, true),
				k:   lin(l+"self_attn.k_proj", D, D, true),
				v:   lin(l+"self_attn.v_proj", D, D, true),
				o:   lin(l+"self_attn.out_proj", D, D, true),
				ln2: norm(l + "layer_norm2"),
				fc1: lin(l+"mlp.fc1", F, D, true),
				fc2: lin(l+"mlp.fc2", D, F, true),
			})
		}
		pn := norm(p + "post_layernorm")
		v.postNorm = &pn
		if clip {
			if _, ok := ws.Shape("visual_projection.weight"); ok || c.outer == "clip" {
				v.proj = get("visual_projection.weight", v.kind, int64(c.Proj), D)
			}
		} else {
			h := p + "head."
			in := get(h+"attention.in_proj_weight", v.kind, 3*D, D)
			inB := get(h+"attention.in_proj_bias", v.kind, 3*D)
			part := func(i int64) linear {
				return linear{w: narrow(in, 0, i*D, D), b: narrow(inB, 0, i*D, D)}
			}
			v.head = &vitHead{
				probe: get(h+"probe", v.kind, 1, 1, D),
				q:     part(0), k: part(1), v: part(2),
				o:   lin(h+"attention.out_proj", D, D, true),
				ln:  norm(h + "layernorm"),
				fc1: lin(h+"mlp.fc1", F, D, true),
				fc2: lin(h+"mlp.fc2", D, F, true),
			}
		}
	case "dinov2":
		e := p + "embeddings."
		v.patchW = get(e+"patch_embeddings.projection.weight", raw.Float32, D, C, P, P)
		v.patchB = get(e+"patch_embeddings.projection.bias", raw.Float32, D)
		v.cls = get(e+"cls_token", v.kind, 1, 1, D)
		if c.MaskToken {
			expect(e+"mask_token", 1, D) // replaces masked patches in pre-training only
		}
		v.pos = get(e+"position_embeddings", v.kind, 1, G*G+1, D)
		for i := 0; i < c.Layers; i++ {
			l := fmt.Sprintf("%sencoder.layer.%d.", p, i)
			v.layers = append(v.layers, vitLayer{
				ln1: norm(l + "norm1"),
				q:   lin(l+"attention.attention.query", D, D, c.QKVBias),
				k:   lin(l+"attention.attention.key", D, D, c.QKVBias),
				v:   lin(l+"attention.attention.value", D, D, c.QKVBias),
				o:   lin(l+"attention.output.dense", D, D, true),
				ls1: get(l+"layer_scale1.lambda1", v.kind, D),
				ln2: norm(l + "norm2"),
				fc1: lin(l+"mlp.fc1", F, D, true),
				fc2: lin(l+"mlp.fc2", D, F, true),
				ls2: get(l+"layer_scale2.lambda1", v.kind, D),
			})
		}
		pn := norm(p + "layernorm")
		v.postNorm = &pn
	}
	if err != nil {
		return err
	}
	// Tensors of the folder that are not the vision tower: the text tower of a full CLIP or
	// SigLIP folder and a DINOv2 classifier are accepted unread; anything else is an error.
	other := func(n string) bool {
		switch {
		case c.outer != "" && (strings.HasPrefix(n, "text_model.") || strings.HasPrefix(n, "text_projection.") || n == "logit_scale" || n == "logit_bias"):
			return true
		case c.ModelType == "dinov2" && p == "dinov2." && strings.HasPrefix(n, "classifier."):
			return true
		}
		return false
	}
	var extra []string
	for _, n := range ws.Names() {
		if !v.names[n] && !other(n) {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("hf: %d tensors of %s are not part of a %s model of this config: %s", len(extra), dir, c.ModelType, strings.Join(extra[:min(5, len(extra))], ", "))
	}
	return v.w.Err()
}

// checkProcessor checks that the preprocessor makes images of a side the model reads.
func (v *ViT) checkProcessor() error {
	if v.pre == nil {
		return nil
	}
	h, w := v.pre.OutSize()
	switch {
	case h == 0:
		if v.cfg.ModelType != "dinov2" {
			return fmt.Errorf("a shortest-edge resize without a centre crop makes images of any shape; %s reads %dx%d", v.cfg.ModelType, v.cfg.ImageSize, v.cfg.ImageSize)
		}
	case h != w:
		return fmt.Errorf("images of %dx%d (height x width): only square inputs are implemented", h, w)
	case h%v.cfg.Patch != 0:
		return fmt.Errorf("images of side %d are not a whole number of %d-pixel patches", h, v.cfg.Patch)
	case v.cfg.ModelType != "dinov2" && h != v.cfg.ImageSize:
		return fmt.Errorf("images of side %d, but %s reads %d (position embeddings are interpolated only for dinov2)", h, v.cfg.ModelType, v.cfg.ImageSize)
	}
	return nil
}

// Config returns the model's config.
func (v *ViT) Config() ViTConfig { return v.cfg }

// Processor returns the folder's image preprocessing, nil when it has no
// preprocessor_config.json.
func (v *ViT) Processor() *ViTImageProcessor { return v.pre }

// Close frees the weights.
func (v *ViT) Close() {
	if v.w != nil {
		_ = v.w.Free()
		v.w = nil
	}
}

// vitActs are the outputs of a forward pass, owned by its arena.
type vitActs struct {
	hidden []raw.Tensor // Layers+1 tensors [B, T, D]
	last   raw.Tensor   // [B, T, D]
	pooled raw.Tensor   // [B, D]
	embeds raw.Tensor   // [B, Proj]: CLIP with visual_projection only
}

// forward runs pixels px [B, C, S, S] (float32, on the arena's device) through the model in
// arena a. hidden[0] is what the first layer reads (CLIP: after pre_layrnorm; DINOv2, SigLIP:
// the embeddings) and hidden[i] the output of layer i, before any final norm, as transformers'
// hidden_states.
func (v *ViT) forward(a *raw.Arena, px raw.Tensor, B, S int64) vitActs {
	c := v.cfg
	D, P := int64(c.D), int64(c.Patch)
	G := S / P
	x := a.Conv2d(px, v.patchW, v.patchB, P, 0)                  // [B, D, G, G]
	x = a.To(a.Transpose(a.Reshape(x, B, D, G*G), 1, 2), v.kind) // [B, N, D]
	if v.cls != nil {
		x = a.Cat(1, a.Expand(v.cls, B, 1, D), x)
	}
	x = a.Add(x, v.positions(a, G))
	if v.preNorm != nil {
		x = v.norm(a, x, *v.preNorm)
	}
	T := G * G
	if v.cls != nil {
		T++
	}
	var out vitActs
	out.hidden = append(out.hidden, x)
	for i := range v.layers {
		x = v.layer(a, &v.layers[i], x, B, T)
		out.hidden = append(out.hidden, x)
	}
	switch c.ModelType {
	case "clip_vision_model":
		out.last = x
		out.pooled = v.norm(a, a.Select(x, 1, 0), *v.postNorm)
		if v.proj != nil {
			out.embeds = a.Linear(out.pooled, v.proj, nil)
		}
	case "dinov2":
		out.last = v.norm(a, x, *v.postNorm)
		out.pooled = a.Select(out.last, 1, 0)
	case "siglip_vision_model":
		out.last = v.norm(a, x, *v.postNorm)
		if v.head != nil { // a tower without the pooling head (Janus's) has no pooled output
			out.pooled = v.pool(a, out.last, B, T)
		}
	}
	return out
}

// positions returns the position embeddings [1, T, D] for a G x G patch grid. DINOv2's are
// interpolated from the trained grid when G differs, as transformers' interpolate_pos_encoding:
// the patch positions as a G0 x G0 image, bicubic (align_corners false, no antialiasing) in
// float32, the class token's position kept.
func (v *ViT) positions(a *raw.Arena, G int64) raw.Tensor {
	G0 := int64(v.cfg.Grid())
	if G == G0 {
		return v.pos
	}
	D := int64(v.cfg.D)
	cp := a.Narrow(v.pos, 1, 0, 1)
	pp := a.Permute(a.Reshape(a.Narrow(v.pos, 1, 1, G0*G0), 1, G0, G0, D), 0, 3, 1, 2) // [1, D, G0, G0]
	pp = a.UpsampleBicubic2d(a.To(pp, raw.Float32), G, G, false)
	pp = a.Reshape(a.Permute(a.To(pp, v.kind), 0, 2, 3, 1), 1, G*G, D)
	return a.Cat(1, cp, pp)
}

// layer is one encoder layer: x + s1*attn(norm1(x)), then + s2*mlp(norm2(.)) (s1, s2 DINOv2's
// layer scales).
func (v *ViT) layer(a *raw.Arena, w *vitLayer, x raw.Tensor, B, T int64) raw.Tensor {
	h := v.norm(a, x, w.ln1)
	o := v.attention(a, h, h, w.q, w.k, w.v, w.o, B, T, T)
	if w.ls1 != nil {
		o = a.Mul(o, w.ls1)
	}
	x = a.Add(x, o)
	m := v.mlp(a, v.norm(a, x, w.ln2), w.fc1, w.fc2)
	if w.ls2 != nil {
		m = a.Mul(m, w.ls2)
	}
	return a.Add(x, m)
}

// attention is multi-head attention of Tq queries from xq [B, Tq, D] over Tk keys and values
// from xkv [B, Tk, D], with the output projection: [B, Tq, D].
func (v *ViT) attention(a *raw.Arena, xq, xkv raw.Tensor, q, k, vv, o linear, B, Tq, Tk int64) raw.Tensor {
	H := int64(v.cfg.H)
	Dh := int64(v.cfg.D) / H
	heads := func(x raw.Tensor, l linear, T int64) raw.Tensor { // [B, H, T, Dh]
		return a.Transpose(a.View(a.Linear(x, l.w, l.b), B, T, H, Dh), 1, 2)
	}
	y := attend(a, heads(xq, q, Tq), heads(xkv, k, Tk), heads(xkv, vv, Tk), nil, v.kind, Dh)
	y = a.Reshape(a.Transpose(y, 1, 2), B, Tq, H*Dh)
	return a.Linear(y, o.w, o.b)
}

// mlp is fc2(act(fc1(x))).
func (v *ViT) mlp(a *raw.Arena, x raw.Tensor, fc1, fc2 linear) raw.Tensor {
	return a.Linear(v.act(a, a.Linear(x, fc1.w, fc1.b)), fc2.w, fc2.b)
}

// act is the config's hidden_act: quick_gelu x*sigmoid(1.702x), gelu (erf), or the tanh
// approximation of gelu (gelu_pytorch_tanh; gelu_new is the same function written out).
func (v *ViT) act(a *raw.Arena, x raw.Tensor) raw.Tensor { return activation(a, v.cfg.Act, x) }

// activation applies the transformers activation of the given name (ViTConfig.check's list).
func activation(a *raw.Arena, name string, x raw.Tensor) raw.Tensor {
	switch name {
	case "quick_gelu":
		return a.Mul(x, a.Sigmoid(a.MulScalar(x, 1.702)))
	case "gelu":
		return a.Gelu(x)
	default:
		return a.GeluTanh(x)
	}
}

// norm is LayerNorm over the last dimension, in float32, returned in the model's kind.
func (v *ViT) norm(a *raw.Arena, x raw.Tensor, n vitNorm) raw.Tensor {
	return a.To(a.LayerNorm(a.To(x, raw.Float32), n.w, n.b, int64(v.cfg.D), v.cfg.Eps), v.kind)
}

// pool is SigLIP's head: the probe attends over the tokens x [B, T, D], then
// y + mlp(layernorm(y)); the result [B, D].
func (v *ViT) pool(a *raw.Arena, x raw.Tensor, B, T int64) raw.Tensor {
	h := v.head
	D := int64(v.cfg.D)
	y := v.attention(a, a.Expand(h.probe, B, 1, D), x, h.q, h.k, h.v, h.o, B, 1, T)
	y = a.Add(y, v.mlp(a, v.norm(a, y, h.ln), h.fc1, h.fc2))
	return a.Select(y, 1, 0)
}

// ViTOutput is a forward pass's result in float32, row-major.
type ViTOutput struct {
	B, T, D int
	// Hidden holds Layers+1 tensors [B, T, D]: what the first layer reads (CLIP: after
	// pre_layrnorm; DINOv2 and SigLIP: the embeddings), then the output of each layer, as
	// transformers' hidden_states.
	Hidden [][]float32
	Last   []float32 // last_hidden_state [B, T, D] (DINOv2 and SigLIP: after the final norm)
	Pooled []float32 // pooler_output [B, D]
	Embeds []float32 // CLIP's image_embeds [B, Proj]; nil for the other families
}

// Forward runs B images of preprocessed pixels [B, C, S, S] (float32, channel-major, as
// transformers' pixel_values) through the model. S must be the config's image_size, or for
// DINOv2 any multiple of patch_size (its position embeddings are then interpolated).
func (v *ViT) Forward(pixels []float32, B int) (*ViTOutput, error) {
	a := raw.New(v.dev.CInt())
	defer a.Free()
	px, S, err := v.pixels(a, pixels, B)
	if err != nil {
		return nil, err
	}
	acts := v.forward(a, px, int64(B), S)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: vision forward: %w", err)
	}
	G := int(S) / v.cfg.Patch
	T := G * G
	if v.cls != nil {
		T++
	}
	out := &ViTOutput{B: B, T: T, D: v.cfg.D}
	for _, h := range acts.hidden {
		out.Hidden = append(out.Hidden, v.values(a, h, B*T*v.cfg.D))
	}
	out.Last = v.values(a, acts.last, B*T*v.cfg.D)
	out.Pooled = v.values(a, acts.pooled, B*v.cfg.D)
	if acts.embeds != nil {
		out.Embeds = v.values(a, acts.embeds, B*v.cfg.Proj)
	}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: vision forward: %w", err)
	}
	return out, nil
}

// pixels checks a batch of pixel values and puts it on the device: [B, C, S, S] float32.
func (v *ViT) pixels(a *raw.Arena, pixels []float32, B int) (raw.Tensor, int64, error) {
	C := v.cfg.Channels
	if B < 1 || len(pixels) == 0 || len(pixels)%(B*C) != 0 {
		return nil, 0, fmt.Errorf("hf: %d pixel values are not %d images of %d channels", len(pixels), B, C)
	}
	n := len(pixels) / (B * C)
	S := int(math.Round(math.Sqrt(float64(n))))
	switch {
	case S*S != n:
		return nil, 0, fmt.Errorf("hf: %d values per channel are not a square image (only square inputs are implemented)", n)
	case S%v.cfg.Patch != 0:
		return nil, 0, fmt.Errorf("hf: images of side %d are not a whole number of %d-pixel patches", S, v.cfg.Patch)
	case v.cfg.ModelType != "dinov2" && S != v.cfg.ImageSize:
		return nil, 0, fmt.Errorf("hf: images of side %d, but %s reads %d", S, v.cfg.ModelType, v.cfg.ImageSize)
	}
	return a.FromFloat32(pixels, int64(B), int64(C), int64(S), int64(S)), int64(S), nil
}

// values copies a tensor of n values into a new []float32.
func (v *ViT) values(a *raw.Arena, x raw.Tensor, n int) []float32 {
	out := make([]float32, n)
	a.CopyToFloat32(a.To(x, raw.Float32), out)
	return out
}
