package janus

import "fmt"

// initKind is how transformers' _init_weights sets a tensor.
type initKind int

const (
	initNormal initKind = iota // N(0, initializer_range): Linear, Conv2d and Embedding weights
	initZeros                  // biases
	initOnes                   // norm weights
)

// spec is one weight of the vision tower, the aligners or the generation head.
type spec struct {
	name  string
	shape []int64
	init  initKind
	f32   bool // kept in float32 whatever the model's kind (LayerNorms, the patch convolution)
}

// specs lists the weights outside the decoder and the VQ-VAE that config c implies.
func specs(c Config) []spec {
	v, g := c.Vision, c.VQ
	D, Dv, F := int64(c.Text.D), int64(v.D), int64(v.F())
	C, P, G := int64(v.Channels), int64(v.Patch), int64(v.Grid())
	K, E := int64(g.NumEmbeddings), int64(g.EmbedDim)
	var out []spec
	add := func(name string, init initKind, f32 bool, shape ...int64) {
		out = append(out, spec{name, shape, init, f32})
	}
	lin := func(name string, o, i int64, bias bool) {
		add(name+".weight", initNormal, false, o, i)
		if bias {
			add(name+".bias", initZeros, false, o)
		}
	}
	norm := func(name string) {
		add(name+".weight", initOnes, true, Dv)
		add(name+".bias", initZeros, true, Dv)
	}
	e := "model.vision_model.embeddings."
	add(e+"patch_embedding.weight", initNormal, true, Dv, C, P, P)
	add(e+"patch_embedding.bias", initZeros, true, Dv)
	add(e+"position_embedding.weight", initNormal, false, G*G, Dv)
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
	add("model.generation_embeddings.weight", initNormal, false, K, E)
	lin("model.generation_aligner.fc1", D, E, true)
	for i := range g.NumHiddenLayers - 1 {
		lin(fmt.Sprintf("model.generation_aligner.hidden_layers.%d", i), D, D, true)
	}
	lin("model.generation_head.proj_out", D, D, true)
	lin("model.generation_head.vision_head", K, D, true)
	return out
}
