package shape

import "fmt"

// Parts of a model, as the families name them (janus.Param.Part): the trainer trains some and
// freezes the others.
const (
	PartLM      = "lm"      // the decoder and its head
	PartVision  = "vision"  // the understanding tower (Qwen2.5-VL's includes its patch merger)
	PartAligner = "aligner" // Janus: the MLP from the tower to the decoder
	PartGen     = "gen"     // Janus: generation embeddings, aligner and head
	PartVQ      = "vq"      // Janus: the VQ-VAE image tokenizer
)

// Tensor is one weight the loader reads.
type Tensor struct {
	Name  string
	Shape []int64
	Part  string
	// Float32 says the loader keeps it in float32 whatever the run's dtype (Janus's LayerNorms,
	// patch convolution, GroupNorms and codebook).
	Float32 bool
}

// Numel is the tensor's number of values.
func (t Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes is the tensor's size when the run's dtype takes dtypeBytes a value.
func (t Tensor) Bytes(dtypeBytes int) int64 {
	if t.Float32 {
		return 4 * t.Numel()
	}
	return int64(dtypeBytes) * t.Numel()
}

// list collects tensors.
type list struct{ ts []Tensor }

func (l *list) add(name, part string, f32 bool, shape ...int) {
	s := make([]int64, len(shape))
	for i, d := range shape {
		s[i] = int64(d)
	}
	l.ts = append(l.ts, Tensor{Name: name, Shape: s, Part: part, Float32: f32})
}

// lin adds a Linear layer's weight [out, in] and, with bias, its bias [out].
func (l *list) lin(name, part string, out, in int, bias bool) {
	l.add(name+".weight", part, false, out, in)
	if bias {
		l.add(name+".bias", part, false, out)
	}
}

// decoderTensors lists hf.Decoder.Load's tensors: under pre (model. or model.language_model.),
// and lm_head.weight unless tied.
func decoderTensors(l *list, d Decoder, pre string) {
	Hq, Hkv := d.H*d.Dh, d.KV*d.Dh
	l.add(pre+"embed_tokens.weight", PartLM, false, d.Vocab, d.D)
	for i := range d.Layers {
		p := fmt.Sprintf("%slayers.%d.", pre, i)
		l.add(p+"input_layernorm.weight", PartLM, false, d.D)
		l.lin(p+"self_attn.q_proj", PartLM, Hq, d.D, d.QKVBias)
		l.lin(p+"self_attn.k_proj", PartLM, Hkv, d.D, d.QKVBias)
		l.lin(p+"self_attn.v_proj", PartLM, Hkv, d.D, d.QKVBias)
		l.lin(p+"self_attn.o_proj", PartLM, d.D, Hq, d.OBias)
		l.add(p+"post_attention_layernorm.weight", PartLM, false, d.D)
		l.lin(p+"mlp.gate_proj", PartLM, d.F, d.D, d.MLPBias)
		l.lin(p+"mlp.up_proj", PartLM, d.F, d.D, d.MLPBias)
		l.lin(p+"mlp.down_proj", PartLM, d.D, d.F, d.MLPBias)
	}
	l.add(pre+"norm.weight", PartLM, false, d.D)
	if !d.Tied {
		l.add("lm_head.weight", PartLM, false, d.Vocab, d.D)
	}
}

// qwenVisionTensors lists qwenvl's vision tower (visionTower.load), all in the run's dtype.
func qwenVisionTensors(l *list, v qwenVision) {
	D, U := v.D, v.D*v.Merge*v.Merge
	l.add("visual.patch_embed.proj.weight", PartVision, false, D, v.Channels, v.Temporal, v.Patch, v.Patch)
	for i := range v.Depth {
		p := fmt.Sprintf("visual.blocks.%d.", i)
		l.add(p+"norm1.weight", PartVision, false, D)
		l.lin(p+"attn.qkv", PartVision, 3*D, D, true)
		l.lin(p+"attn.proj", PartVision, D, D, true)
		l.add(p+"norm2.weight", PartVision, false, D)
		l.lin(p+"mlp.gate_proj", PartVision, v.F, D, true)
		l.lin(p+"mlp.up_proj", PartVision, v.F, D, true)
		l.lin(p+"mlp.down_proj", PartVision, D, v.F, true)
	}
	l.add("visual.merger.ln_q.weight", PartVision, false, D)
	l.lin("visual.merger.mlp.0", PartVision, U, U, true)
	l.lin("visual.merger.mlp.2", PartVision, v.OutD, U, true)
}

// janusTensors lists janus's tensors outside the decoder (janus.specs, then the VQ-VAE).
func janusTensors(l *list, D int, v janusVision, q janusVQ) {
	G, F := v.Image/v.Patch, v.F()
	norm := func(name string) {
		l.add(name+".weight", PartVision, true, v.D)
		l.add(name+".bias", PartVision, true, v.D)
	}
	e := "model.vision_model.embeddings."
	l.add(e+"patch_embedding.weight", PartVision, true, v.D, v.Channels, v.Patch, v.Patch)
	l.add(e+"patch_embedding.bias", PartVision, true, v.D)
	l.add(e+"position_embedding.weight", PartVision, false, G*G, v.D)
	for i := range v.Layers {
		p := fmt.Sprintf("model.vision_model.encoder.layers.%d.", i)
		norm(p + "layer_norm1")
		for _, n := range []string{"q_proj", "k_proj", "v_proj"} {
			l.lin(p+"self_attn."+n, PartVision, v.D, v.D, v.AttnBias)
		}
		l.lin(p+"self_attn.projection_layer", PartVision, v.D, v.D, true)
		norm(p + "layer_norm2")
		l.lin(p+"mlp.fc1", PartVision, F, v.D, true)
		l.lin(p+"mlp.fc2", PartVision, v.D, F, true)
	}
	norm("model.vision_model.post_layernorm")
	l.lin("model.aligner.fc1", PartAligner, D, v.D, true)
	for i := range v.Depth - 1 {
		l.lin(fmt.Sprintf("model.aligner.hidden_layers.%d", i), PartAligner, D, D, true)
	}
	l.add("model.generation_embeddings.weight", PartGen, false, q.NumEmbeddings, q.EmbedDim)
	l.lin("model.generation_aligner.fc1", PartGen, D, q.EmbedDim, true)
	for i := range q.GenLayers - 1 {
		l.lin(fmt.Sprintf("model.generation_aligner.hidden_layers.%d", i), PartGen, D, D, true)
	}
	l.lin("model.generation_head.proj_out", PartGen, D, D, true)
	l.lin("model.generation_head.vision_head", PartGen, q.NumEmbeddings, D, true)
	vqTensors(l, q, "model.vqmodel.")
}
