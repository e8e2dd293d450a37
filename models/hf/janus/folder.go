package janus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/models/hf"
)

// extraFiles are the files of a Janus folder besides the language model's that Save copies.
func extraFiles() []string {
	return []string{"preprocessor_config.json", "processor_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json"}
}

// configJSON writes the config in transformers' JanusConfig.to_dict layout.
func (c Config) configJSON() ([]byte, error) {
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
func (c Config) generationJSON() map[string]any {
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

// processorJSON is Janus-Pro's preprocessor_config.json at image side S.
func processorJSON(S int) map[string]any {
	return map[string]any{"image_processor_type": "JanusImageProcessor", "size": map[string]int{"height": S, "width": S},
		"min_size": 14, "resample": 3, "do_resize": true, "do_pad": true, "do_rescale": true,
		"rescale_factor": 1.0 / 255, "do_normalize": true, "image_mean": []float64{0.5, 0.5, 0.5},
		"image_std": []float64{0.5, 0.5, 0.5}}
}

// Save writes the model to dir as a Hugging Face folder that Load (and transformers) reads:
// model.safetensors (float32, every weight under its Hugging Face name, meta in its metadata)
// and the config, generation, processor and tokenizer files of the folder the model came from
// (config.json written from the model's config when that folder has none). Every file is
// written atomically.
func (m *Model) Save(dir string, meta map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hf: save: %w", err)
	}
	if err := hf.SaveFolder(filepath.Join(dir, "model.safetensors"), m.lm.Device(), m.names, m.dir, meta, extraFiles()); err != nil {
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
