package hf

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Janus is a Janus or Janus-Pro model: the understanding tower and aligner, the Llama decoder
// with lm_head, the VQ-VAE and the generation embeddings, aligner and head. Every weight lives
// in one arena (the decoder's) under its Hugging Face name.
type Janus struct {
	cfg  JanusConfig
	dir  string              // the folder it was loaded from (Save copies its other files)
	proc JanusImageProcessor // preprocessor_config.json's, or Janus-Pro's defaults

	lm         *Decoder  // model.language_model.* and lm_head.weight
	vision     *Encoder  // model.vision_model.*: a SigLIP tower without pooling head
	visionNorm LayerNorm // model.vision_model.post_layernorm
	aligner    janusMLP
	vq         *janusVQ   // model.vqmodel.*
	genEmbed   raw.Tensor // [K, E] model.generation_embeddings.weight
	genAligner janusMLP
	genProj    Linear // generation_head.proj_out [D, D]
	genHead    Linear // generation_head.vision_head [K, D]

	names map[string]raw.Tensor // every weight, by its Hugging Face name
	order []string              // names in Params' order
}

// JanusParam is one weight of a Janus model and the part it belongs to: "vision" (the
// understanding tower), "aligner" (its MLP), "lm" (the decoder and lm_head), "vq" (the VQ-VAE)
// or "gen" (generation embeddings, aligner and head).
type JanusParam struct {
	Name, Part string
	Tensor     raw.Tensor
}

// janusParts are the parts in Params' order.
func janusParts() []string { return []string{"vision", "aligner", "lm", "vq", "gen"} }

// janusPart names the part of a weight.
func janusPart(name string) string {
	switch {
	case strings.HasPrefix(name, "model.vision_model."):
		return "vision"
	case strings.HasPrefix(name, "model.aligner."):
		return "aligner"
	case strings.HasPrefix(name, "model.vqmodel."):
		return "vq"
	case strings.HasPrefix(name, "model.generation_"):
		return "gen"
	}
	return "lm"
}

// janusMLP is transformers' JanusVisionAlignerMLP / JanusVQVAEAlignerMLP: fc1, then for each
// hidden layer the activation and the layer.
type janusMLP struct {
	act    string
	layers []Linear
}

func (p janusMLP) forward(a *raw.Arena, x raw.Tensor) raw.Tensor {
	for i, l := range p.layers {
		if i > 0 {
			x = Activation(a, p.act, x)
		}
		x = a.Linear(x, l.W, l.B)
	}
	return x
}

// janusInit is how transformers' _init_weights sets a tensor.
type janusInit int

const (
	janusNormal janusInit = iota // N(0, initializer_range): Linear, Conv2d and Embedding weights
	janusZeros                   // biases
	janusOnes                    // norm weights
)

// janusSpec is one weight of the vision tower, the aligners or the generation head.
type janusSpec struct {
	name  string
	shape []int64
	init  janusInit
	f32   bool // kept in float32 whatever the model's kind (LayerNorms, the patch convolution)
}

// janusSpecs lists the weights outside the decoder and the VQ-VAE that config c implies.
func janusSpecs(c JanusConfig) []janusSpec {
	v, g := c.Vision, c.VQ
	D, Dv, F := int64(c.Text.D), int64(v.D), int64(v.F())
	C, P, G := int64(v.Channels), int64(v.Patch), int64(v.Grid())
	K, E := int64(g.NumEmbeddings), int64(g.EmbedDim)
	var out []janusSpec
	add := func(name string, init janusInit, f32 bool, shape ...int64) {
		out = append(out, janusSpec{name, shape, init, f32})
	}
	lin := func(name string, o, i int64, bias bool) {
		add(name+".weight", janusNormal, false, o, i)
		if bias {
			add(name+".bias", janusZeros, false, o)
		}
	}
	norm := func(name string) {
		add(name+".weight", janusOnes, true, Dv)
		add(name+".bias", janusZeros, true, Dv)
	}
	e := "model.vision_model.embeddings."
	add(e+"patch_embedding.weight", janusNormal, true, Dv, C, P, P)
	add(e+"patch_embedding.bias", janusZeros, true, Dv)
	add(e+"position_embedding.weight", janusNormal, false, G*G, Dv)
	for i := range v.Layers {
		l := fmt.Sprintf("model.vision_model.encoder.layers.%d.", i)
		norm(l + "layer_norm1")
		for _, p := range []string{"q_proj", "k_proj", "v_proj"} {
			lin(l+"self_attn."+p, Dv, Dv, v.AttnBias)
		}
		lin(l+"self_attn.projection_layer", Dv, Dv, true)
		norm(l + "layer_norm2")
		lin(l+"mlp.fc1", F, Dv, true)
		lin(l+"mlp.fc2", Dv, F, true)
	}
	norm("model.vision_model.post_layernorm")
	lin("model.aligner.fc1", D, Dv, true)
	for i := range v.Depth - 1 {
		lin(fmt.Sprintf("model.aligner.hidden_layers.%d", i), D, D, true)
	}
	add("model.generation_embeddings.weight", janusNormal, false, K, E)
	lin("model.generation_aligner.fc1", D, E, true)
	for i := range g.NumHiddenLayers - 1 {
		lin(fmt.Sprintf("model.generation_aligner.hidden_layers.%d", i), D, D, true)
	}
	lin("model.generation_head.proj_out", D, D, true)
	lin("model.generation_head.vision_head", K, D, true)
	return out
}

// LoadJanus reads a JanusForConditionalGeneration folder onto dev, with weights and activations
// in kind (raw.Float32 or raw.BFloat16; LayerNorms, softmax and the patch convolution run in
// float32). Every tensor config.json implies must be present with its shape, and the folder may
// hold no other: an error names the tensor.
func LoadJanus(dir string, dev gotch.Device, kind raw.Kind) (*Janus, error) {
	cfg, err := ReadJanusConfig(dir)
	if err != nil {
		return nil, err
	}
	proc, err := loadJanusImageProcessor(dir, cfg.Vision)
	if err != nil {
		return nil, err
	}
	ws, err := OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	lm := NewDecoder(cfg.Text, dev, kind, "model.language_model.")
	m := &Janus{cfg: cfg, dir: dir, proc: proc, lm: lm, names: map[string]raw.Tensor{}}
	if err := m.load(ws); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// janusSplitWeights splits a folder's tensors into the decoder's (model.language_model.*,
// lm_head.weight), which Decoder.Load checks, and the others. The views share ws's mapped files.
func janusSplitWeights(ws *Weights) (text, rest *Weights) {
	textNames, restNames := map[string]string{}, map[string]string{}
	for _, name := range ws.Names() {
		if strings.HasPrefix(name, "model.language_model.") || name == "lm_head.weight" {
			textNames[name] = name
		} else {
			restNames[name] = name
		}
	}
	return ws.View(textNames), ws.View(restNames)
}

func (m *Janus) load(ws *Weights) error {
	text, rest := janusSplitWeights(ws)
	w, kind := m.lm.Arena(), m.lm.Kind()
	var order []string
	for _, s := range janusSpecs(m.cfg) {
		k := kind
		if s.f32 {
			k = raw.Float32
		}
		x, err := rest.Load(w, s.name, k, s.shape...)
		if err != nil {
			return err
		}
		m.names[s.name] = x
		order = append(order, s.name)
	}
	vq, err := loadJanusVQ(rest, w, "model.vqmodel.", m.cfg.VQ, kind, m.names, &order)
	if err != nil {
		return err
	}
	m.vq = vq
	var extra []string
	for _, n := range rest.Names() {
		if _, ok := m.names[n]; !ok {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("hf: %d tensors of %s are not part of a janus model of this config: %s", len(extra), ws.Dir(), strings.Join(extra[:min(5, len(extra))], ", "))
	}
	if err := m.lm.Load(text); err != nil {
		return err
	}
	lmTensors := m.lm.Tensors()
	for _, n := range m.lm.Order() {
		if x, ok := lmTensors[n]; ok {
			m.names[n] = x
			order = append(order, n)
		}
	}
	rank := map[string]int{}
	for i, p := range janusParts() {
		rank[p] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return rank[janusPart(order[i])] < rank[janusPart(order[j])] })
	m.order = order
	m.assemble()
	return w.Err()
}

// assemble builds the vision tower, the aligners and the generation head from the loaded weights.
func (m *Janus) assemble() {
	c, t, w := m.cfg, m.names, m.lm.Arena()
	v := c.Vision
	lin := func(name string) Linear { return Linear{W: t[name+".weight"], B: t[name+".bias"]} }
	norm := func(name string) LayerNorm { return LayerNorm{W: t[name+".weight"], B: t[name+".bias"]} }
	enc := &Encoder{Kind: m.lm.Kind(), Cfg: EncoderConfig{D: v.D, H: v.H, Patch: v.Patch, Grid: v.Grid(), Eps: v.Eps, Act: v.Act}}
	e := "model.vision_model.embeddings."
	enc.PatchW, enc.PatchB = t[e+"patch_embedding.weight"], t[e+"patch_embedding.bias"]
	N := int64(v.Grid() * v.Grid())
	enc.Pos = w.View(t[e+"position_embedding.weight"], 1, N, int64(v.D))
	for i := range v.Layers {
		l := fmt.Sprintf("model.vision_model.encoder.layers.%d.", i)
		enc.Layers = append(enc.Layers, EncoderLayer{
			LN1: norm(l + "layer_norm1"),
			Q:   lin(l + "self_attn.q_proj"), K: lin(l + "self_attn.k_proj"), V: lin(l + "self_attn.v_proj"),
			O:   lin(l + "self_attn.projection_layer"),
			LN2: norm(l + "layer_norm2"),
			FC1: lin(l + "mlp.fc1"), FC2: lin(l + "mlp.fc2"),
		})
	}
	m.vision = enc
	m.visionNorm = norm("model.vision_model.post_layernorm")
	mlp := func(prefix, act string, depth int) janusMLP {
		p := janusMLP{act: act, layers: []Linear{lin(prefix + "fc1")}}
		for i := range depth - 1 {
			p.layers = append(p.layers, lin(fmt.Sprintf("%shidden_layers.%d", prefix, i)))
		}
		return p
	}
	m.aligner = mlp("model.aligner.", v.Act, v.Depth)
	m.genAligner = mlp("model.generation_aligner.", c.VQ.HiddenAct, c.VQ.NumHiddenLayers)
	m.genEmbed = t["model.generation_embeddings.weight"]
	m.genProj = lin("model.generation_head.proj_out")
	m.genHead = lin("model.generation_head.vision_head")
}

// Config returns the model's config.
func (m *Janus) Config() JanusConfig { return m.cfg }

// Close frees the weights.
func (m *Janus) Close() {
	if m.lm != nil {
		m.lm.Close()
	}
}

// Params lists every weight with its part, in a fixed order: the parts as janusParts lists
// them, each in load order. A tied lm_head is listed once (as the token embeddings).
func (m *Janus) Params() []JanusParam {
	out := make([]JanusParam, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, JanusParam{Name: n, Part: janusPart(n), Tensor: m.names[n]})
	}
	return out
}

// SetTrainable makes the weights of the parts named ("vision", "aligner", "lm", "vq", "gen")
// require gradients and every other weight not.
func (m *Janus) SetTrainable(parts ...string) error {
	on := map[string]bool{}
	for _, p := range parts {
		found := false
		for _, q := range janusParts() {
			found = found || p == q
		}
		if !found {
			return fmt.Errorf("hf: janus has no part %q (%s)", p, strings.Join(janusParts(), ", "))
		}
		on[p] = true
	}
	for _, p := range m.Params() {
		if err := raw.SetRequiresGrad(p.Tensor, on[p.Part]); err != nil {
			return fmt.Errorf("hf: %s: %w", p.Name, err)
		}
	}
	return nil
}
