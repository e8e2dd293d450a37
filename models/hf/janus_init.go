package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// janusExtraFiles are the files of a Janus folder besides the language model's that Save copies.
func janusExtraFiles() []string {
	return []string{"preprocessor_config.json", "processor_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json"}
}

// WriteRandomJanus writes a new Janus model folder to dir: config.json (transformers' JanusConfig
// layout), generation_config.json, preprocessor_config.json (Janus-Pro's processor at the tower's
// image size) and model.safetensors (float32) with weights drawn as transformers'
// _init_weights does: Linear, Conv2d and Embedding weights ~ N(0, vision initializer_range),
// biases 0, LayerNorm, GroupNorm and RMSNorm weights 1, the token embedding row of
// text_config.pad_token_id 0. The values depend only on cfg and seed (PCG generators), so the
// same call writes the same bytes. Load the folder with LoadJanus.
func WriteRandomJanus(dir string, cfg JanusConfig, seed uint64) error {
	js, err := cfg.configJSON()
	if err != nil {
		return err
	}
	// The folder's config must read back as cfg's (the checks of ReadJanusConfig included).
	if _, err := parseJanusConfig(js, nil); err != nil {
		return fmt.Errorf("hf: write random janus: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	files := map[string]any{"config.json": json.RawMessage(js), "generation_config.json": cfg.generationJSON(),
		"preprocessor_config.json": janusProcessorJSON(cfg.Vision.ImageSize)}
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
	specs := append(janusSpecs(cfg), janusLMSpecs(cfg.Text, "model.language_model.")...)
	for _, s := range specs {
		vals := make([]float32, Numel(s.shape))
		for i := range vals {
			switch s.init {
			case janusNormal:
				vals[i] = float32(rng.NormFloat64() * std)
			case janusOnes:
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
	initJanusVQ(a, "model.vqmodel.", vq, seed^0x5651, names, &order)
	if err := a.Err(); err != nil {
		return fmt.Errorf("hf: write random janus: %w", err)
	}
	return SaveFolder(filepath.Join(dir, "model.safetensors"), gotch.CPU, names, dir, map[string]string{"seed": fmt.Sprint(seed)}, nil)
}

// janusLMSpecs lists the Llama decoder's weights under prefix, as LM.load reads them.
func janusLMSpecs(t LMConfig, prefix string) []janusSpec {
	D, F, V := int64(t.D), int64(t.F), int64(t.Vocab)
	Hq, Hkv := int64(t.H*t.Dh), int64(t.KV*t.Dh)
	var out []janusSpec
	lin := func(name string, o, i int64, bias bool) {
		out = append(out, janusSpec{name: name + ".weight", shape: []int64{o, i}, init: janusNormal})
		if bias {
			out = append(out, janusSpec{name: name + ".bias", shape: []int64{o}, init: janusZeros})
		}
	}
	norm := func(name string) { out = append(out, janusSpec{name: name, shape: []int64{D}, init: janusOnes}) }
	out = append(out, janusSpec{name: prefix + "embed_tokens.weight", shape: []int64{V, D}, init: janusNormal})
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

// configJSON writes the config in transformers' JanusConfig.to_dict layout.
func (c JanusConfig) configJSON() ([]byte, error) {
	t := c.Text
	text := map[string]any{"model_type": "llama", "vocab_size": t.Vocab, "hidden_size": t.D,
		"intermediate_size": t.F, "num_hidden_layers": t.Layers, "num_attention_heads": t.H,
		"num_key_value_heads": t.KV, "head_dim": t.Dh, "hidden_act": "silu", "rms_norm_eps": t.Eps,
		"max_position_embeddings": max(t.MaxPos, 1), "attention_bias": t.AttnBias, "mlp_bias": t.MLPBias,
		"tie_word_embeddings": t.TieEmbedding, "initializer_range": c.Vision.InitRange,
		"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": t.RopeTheta}}
	if t.ModelType != "" {
		text["model_type"] = t.ModelType
	}
	for k, v := range map[string]*int{"bos_token_id": t.BOS, "pad_token_id": t.PAD} {
		if v != nil {
			text[k] = *v
		}
	}
	if t.EOS != nil {
		text["eos_token_id"] = t.EOS
	}
	var vision, vq map[string]any
	for _, p := range []struct {
		dst *map[string]any
		src any
	}{{&vision, c.Vision}, {&vq, c.VQ}} {
		b, err := json.Marshal(p.src)
		if err == nil {
			err = json.Unmarshal(b, p.dst)
		}
		if err != nil {
			return nil, fmt.Errorf("hf: janus config: %w", err)
		}
	}
	vision["model_type"], vision["image_size"], vision["patch_size"] = "janus_vision_model", c.Vision.ImageSize, c.Vision.Patch
	vq["model_type"], vq["num_patches"] = "janus_vqgan", c.Vision.Grid()
	top := map[string]any{"architectures": []string{"JanusForConditionalGeneration"}, "model_type": "janus",
		"image_token_id": c.ImageTokenID, "tie_word_embeddings": t.TieEmbedding, "dtype": "float32",
		"text_config": text, "vision_config": vision, "vq_config": vq}
	return json.MarshalIndent(top, "", "  ")
}

// generationJSON is generation_config.json with the ids guided generation reads (boi_token_id
// both where transformers' generate reads it and at the top level).
func (c JanusConfig) generationJSON() map[string]any {
	g := map[string]any{"guidance_scale": 5, "temperature": 1.0}
	for k, v := range map[string]int{"bos_token_id": c.BOS, "pad_token_id": c.PAD, "boi_token_id": c.BOI} {
		if v >= 0 {
			g[k] = v
		}
	}
	if c.BOI >= 0 {
		g["generation_kwargs"] = map[string]any{"boi_token_id": c.BOI}
	}
	if c.Text.EOS != nil {
		g["eos_token_id"] = c.Text.EOS
	}
	return g
}

// janusProcessorJSON is Janus-Pro's preprocessor_config.json at image side S.
func janusProcessorJSON(S int) map[string]any {
	return map[string]any{"image_processor_type": "JanusImageProcessor", "size": map[string]int{"height": S, "width": S},
		"min_size": 14, "resample": 3, "do_resize": true, "do_pad": true, "do_rescale": true,
		"rescale_factor": 1.0 / 255, "do_normalize": true, "image_mean": []float64{0.5, 0.5, 0.5},
		"image_std": []float64{0.5, 0.5, 0.5}}
}

// Save writes the model to dir as a Hugging Face folder that LoadJanus (and transformers) reads:
// model.safetensors (float32, every weight under its Hugging Face name, meta in its metadata)
// and the config, generation, processor and tokenizer files of the folder the model came from
// (config.json written from the model's config when that folder has none). Every file is
// written atomically.
func (m *Janus) Save(dir string, meta map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hf: save: %w", err)
	}
	if err := SaveFolder(filepath.Join(dir, "model.safetensors"), m.lm.Device(), m.names, m.dir, meta, janusExtraFiles()); err != nil {
		return err
	}
	path := filepath.Join(dir, "config.json")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		js, err := m.cfg.configJSON()
		if err == nil {
			err = atomicfile.Write(path, append(js, '\n'))
		}
		if err != nil {
			return fmt.Errorf("hf: save: %w", err)
		}
	}
	return nil
}
