package janus

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// WriteRandom writes a new Janus model folder to dir: config.json (transformers' JanusConfig
// layout), generation_config.json, preprocessor_config.json (Janus-Pro's processor at the tower's
// image size) and model.safetensors (float32) with weights drawn as transformers'
// _init_weights does: Linear, Conv2d and Embedding weights ~ N(0, vision initializer_range),
// biases 0, LayerNorm, GroupNorm and RMSNorm weights 1, the token embedding row of
// text_config.pad_token_id 0. The values depend only on cfg and seed (PCG generators), so the
// same call writes the same bytes. Load the folder with Load.
func WriteRandom(dir string, cfg Config, seed uint64) error {
	js, err := cfg.configJSON()
	if err != nil {
		return err
	}
	// The folder's config must read back as cfg's (the checks of ReadConfig included).
	if _, err := parseConfig(js, nil); err != nil {
		return fmt.Errorf("hf: write random janus: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	files := map[string]any{"config.json": json.RawMessage(js), "generation_config.json": cfg.generationJSON(),
		"preprocessor_config.json": processorJSON(cfg.Vision.ImageSize)}
	for name, v := range files {
		data, err := json.MarshalIndent(v, "", "  ")
		if err == nil {
			err = atomicfile.Write(filepath.Join(dir, name), append(data, '\n'))
		}
		if err != nil {
			return fmt.Errorf("hf: write random janus: %s: %w", name, err)
		}
	}
	a := raw.New(gotch.CPU.CInt())
	defer a.Free()
	names := map[string]raw.Tensor{}
	std := cfg.Vision.InitRange
	rng := rand.New(rand.NewPCG(seed, 0x4a616e7573212121)) // "Janus!!!"
	specs := append(specs(cfg), lmSpecs(cfg.Text, "model.language_model.")...)
	for _, s := range specs {
		vals := make([]float32, hf.Numel(s.shape))
		for i := range vals {
			switch s.init {
			case initNormal:
				vals[i] = float32(rng.NormFloat64() * std)
			case initOnes:
				vals[i] = 1
			}
		}
		if s.name == "model.language_model.embed_tokens.weight" && cfg.Text.PAD != nil && *cfg.Text.PAD >= 0 && *cfg.Text.PAD < cfg.Text.Vocab {
			clear(vals[*cfg.Text.PAD*cfg.Text.D : (*cfg.Text.PAD+1)*cfg.Text.D]) // nn.Embedding's padding_idx
		}
		names[s.name] = a.FromFloat32(vals, s.shape...)
	}
	vq := cfg.VQ
	vq.InitializerRange = std // transformers draws every part with the vision tower's range
	var order []string
	initVQ(a, "model.vqmodel.", vq, seed^0x5651, names, &order)
	if err := a.Err(); err != nil {
		return fmt.Errorf("hf: write random janus: %w", err)
	}
	return hf.SaveFolder(filepath.Join(dir, "model.safetensors"), gotch.CPU, names, dir, map[string]string{"seed": fmt.Sprint(seed)}, nil)
}

// lmSpecs lists the Llama decoder's weights under prefix, as hf.Decoder.Load reads them.
func lmSpecs(t hf.LMConfig, prefix string) []spec {
	D, F, V := int64(t.D), int64(t.F), int64(t.Vocab)
	Hq, Hkv := int64(t.H*t.Dh), int64(t.KV*t.Dh)
	var out []spec
	lin := func(name string, o, i int64, bias bool) {
		out = append(out, spec{name: name + ".weight", shape: []int64{o, i}, init: initNormal})
		if bias {
			out = append(out, spec{name: name + ".bias", shape: []int64{o}, init: initZeros})
		}
	}
	norm := func(name string) { out = append(out, spec{name: name, shape: []int64{D}, init: initOnes}) }
	out = append(out, spec{name: prefix + "embed_tokens.weight", shape: []int64{V, D}, init: initNormal})
	for i := range t.Layers {
		p := fmt.Sprintf("%slayers.%d.", prefix, i)
		norm(p + "input_layernorm.weight")
		lin(p+"self_attn.q_proj", Hq, D, t.QKVBias())
		lin(p+"self_attn.k_proj", Hkv, D, t.QKVBias())
		lin(p+"self_attn.v_proj", Hkv, D, t.QKVBias())
		lin(p+"self_attn.o_proj", D, Hq, t.AttnBias)
		norm(p + "post_attention_layernorm.weight")
		lin(p+"mlp.gate_proj", F, D, t.MLPBias)
		lin(p+"mlp.up_proj", F, D, t.MLPBias)
		lin(p+"mlp.down_proj", D, F, t.MLPBias)
	}
	norm(prefix + "norm.weight")
	if !t.TieEmbedding {
		lin("lm_head", V, D, false)
	}
	return out
}
