package janus

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Model is a Janus or Janus-Pro model: the understanding tower and aligner, the Llama decoder
// with lm_head, the VQ-VAE and the generation embeddings, aligner and head. Every weight lives
// in one arena (the decoder's) under its Hugging Face name.
type Model struct {
	cfg  Config
	dir  string         // the folder it was loaded from (Save copies its other files)
	proc ImageProcessor // preprocessor_config.json's, or Janus-Pro's defaults

	lm         *hf.Decoder  // model.language_model.* and lm_head.weight
	vision     *hf.Encoder  // model.vision_model.*: a SigLIP tower without pooling head
	visionNorm hf.LayerNorm // model.vision_model.post_layernorm
	aligner    alignerMLP
	vq         *vqModel   // model.vqmodel.*
	genEmbed   raw.Tensor // [K, E] model.generation_embeddings.weight
	genAligner alignerMLP
	genProj    hf.Linear // generation_head.proj_out [D, D]
	genHead    hf.Linear // generation_head.vision_head [K, D]

	names map[string]raw.Tensor // every weight, by its Hugging Face name
	order []string              // names in Params' order
}

// alignerMLP is transformers' JanusVisionAlignerMLP / JanusVQVAEAlignerMLP: fc1, then for each
// hidden layer the activation and the layer.
type alignerMLP struct {
	act    string
	layers []hf.Linear
}

func (p alignerMLP) forward(a *raw.Arena, x raw.Tensor) raw.Tensor {
	for i, l := range p.layers {
		if i > 0 {
			x = hf.Activation(a, p.act, x)
		}
		x = a.Linear(x, l.W, l.B)
	}
	return x
}

// Load reads a JanusForConditionalGeneration folder onto dev, with weights and activations
// in kind (raw.Float32 or raw.BFloat16; LayerNorms, softmax and the patch convolution run in
// float32). Every tensor config.json implies must be present with its shape, and the folder may
// hold no other: an error names the tensor.
func Load(dir string, dev gotch.Device, kind raw.Kind) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	proc, err := loadImageProcessor(dir, cfg.Vision)
	if err != nil {
		return nil, err
	}
	ws, err := hf.OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	lm := hf.NewDecoder(cfg.Text, dev, kind, "model.language_model.")
	m := &Model{cfg: cfg, dir: dir, proc: proc, lm: lm, names: map[string]raw.Tensor{}}
	if err := m.load(ws); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// splitWeights splits a folder's tensors into the decoder's (model.language_model.*,
// lm_head.weight), which Decoder.Load checks, and the others. The views share ws's mapped files.
func splitWeights(ws *hf.Weights) (text, rest *hf.Weights) {
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

func (m *Model) load(ws *hf.Weights) error {
	text, rest := splitWeights(ws)
	w, kind := m.lm.Arena(), m.lm.Kind()
	var order []string
	for _, s := range specs(m.cfg) {
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
	vq, err := loadVQ(rest, w, "model.vqmodel.", m.cfg.VQ, kind, m.names, &order)
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
	for i, p := range partNames() {
		rank[p] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return rank[partOf(order[i])] < rank[partOf(order[j])] })
	m.order = order
	m.assemble()
	return w.Err()
}

// assemble builds the vision tower, the aligners and the generation head from the loaded weights.
func (m *Model) assemble() {
	c, t, w := m.cfg, m.names, m.lm.Arena()
	v := c.Vision
	lin := func(name string) hf.Linear { return hf.Linear{W: t[name+".weight"], B: t[name+".bias"]} }
	norm := func(name string) hf.LayerNorm { return hf.LayerNorm{W: t[name+".weight"], B: t[name+".bias"]} }
	enc := &hf.Encoder{Kind: m.lm.Kind(), Cfg: hf.EncoderConfig{D: v.D, H: v.H, Patch: v.Patch, Grid: v.Grid(), Eps: v.Eps, Act: v.Act}}
	e := "model.vision_model.embeddings."
	enc.PatchW, enc.PatchB = t[e+"patch_embedding.weight"], t[e+"patch_embedding.bias"]
	N := int64(v.Grid() * v.Grid())
	enc.Pos = w.View(t[e+"position_embedding.weight"], 1, N, int64(v.D))
	for i := range v.Layers {
		l := fmt.Sprintf("model.vision_model.encoder.layers.%d.", i)
		enc.Layers = append(enc.Layers, hf.EncoderLayer{
			LN1: norm(l + "layer_norm1"),
			Q:   lin(l + "self_attn.q_proj"), K: lin(l + "self_attn.k_proj"), V: lin(l + "self_attn.v_proj"),
			O:   lin(l + "self_attn.projection_layer"),
			LN2: norm(l + "layer_norm2"),
			FC1: lin(l + "mlp.fc1"), FC2: lin(l + "mlp.fc2"),
		})
	}
	m.vision = enc
	m.visionNorm = norm("model.vision_model.post_layernorm")
	mlp := func(prefix, act string, depth int) alignerMLP {
		p := alignerMLP{act: act, layers: []hf.Linear{lin(prefix + "fc1")}}
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
func (m *Model) Config() Config { return m.cfg }

// Close frees the weights.
func (m *Model) Close() {
	if m.lm != nil {
		m.lm.Close()
	}
}
