package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
)

// shape is the model's configuration given to init.
type shape struct {
	Layers, Hidden, Inter, Heads, KV, HeadDim, Vocab int
}

// tensorSpec is one tensor of the model in the order it is written.
type tensorSpec struct {
	name  string
	shape []int64
	ones  bool // a norm weight: all ones
}

// specs lists the tensors of a Qwen2 model with a tied head (no lm_head.weight), in the order
// models/hf/lm loads them.
func (s shape) specs() []tensorSpec {
	D, F, V := int64(s.Hidden), int64(s.Inter), int64(s.Vocab)
	Hq, Hkv := int64(s.Heads*s.HeadDim), int64(s.KV*s.HeadDim)
	out := []tensorSpec{{name: "model.embed_tokens.weight", shape: []int64{V, D}}}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		out = append(out,
			tensorSpec{name: p + "input_layernorm.weight", shape: []int64{D}, ones: true},
			tensorSpec{name: p + "self_attn.q_proj.weight", shape: []int64{Hq, D}},
			tensorSpec{name: p + "self_attn.q_proj.bias", shape: []int64{Hq}},
			tensorSpec{name: p + "self_attn.k_proj.weight", shape: []int64{Hkv, D}},
			tensorSpec{name: p + "self_attn.k_proj.bias", shape: []int64{Hkv}},
			tensorSpec{name: p + "self_attn.v_proj.weight", shape: []int64{Hkv, D}},
			tensorSpec{name: p + "self_attn.v_proj.bias", shape: []int64{Hkv}},
			tensorSpec{name: p + "self_attn.o_proj.weight", shape: []int64{D, Hq}},
			tensorSpec{name: p + "post_attention_layernorm.weight", shape: []int64{D}, ones: true},
			tensorSpec{name: p + "mlp.gate_proj.weight", shape: []int64{F, D}},
			tensorSpec{name: p + "mlp.up_proj.weight", shape: []int64{F, D}},
			tensorSpec{name: p + "mlp.down_proj.weight", shape: []int64{D, F}},
		)
	}
	return append(out, tensorSpec{name: "model.norm.weight", shape: []int64{D}, ones: true})
}

// runInit is `lmbench init`: it writes the model's config.json and random weights.
func runInit(args []string) error {
	fs := pflag.NewFlagSet("init", pflag.ExitOnError)
	out := fs.String("out", "", "model folder to write (config.json, model.safetensors)")
	var s shape
	fs.IntVar(&s.Layers, "layers", 24, "decoder layers")
	fs.IntVar(&s.Hidden, "hidden", 896, "hidden size")
	fs.IntVar(&s.Inter, "intermediate", 4864, "MLP intermediate size")
	fs.IntVar(&s.Heads, "heads", 14, "attention heads")
	fs.IntVar(&s.KV, "kv-heads", 2, "key/value heads")
	fs.IntVar(&s.HeadDim, "head-dim", 64, "head size")
	fs.IntVar(&s.Vocab, "vocab", 151936, "vocabulary size")
	seed := fs.Uint64("seed", 1, "seed of the weights")
	std := fs.Float64("std", 0.02, "standard deviation of the weights and biases (norms are 1)")
	_ = fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("init: --out is required")
	}
	if s.Layers < 1 || s.Hidden < 1 || s.Inter < 1 || s.Heads < 1 || s.KV < 1 || s.HeadDim < 2 || s.Vocab < 1 || s.Heads%s.KV != 0 {
		return fmt.Errorf("init: bad shape %+v", s)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	cfg := map[string]any{
		"architectures":           []string{"Qwen2ForCausalLM"},
		"model_type":              "qwen2",
		"hidden_act":              "silu",
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Inter,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KV,
		"vocab_size":              s.Vocab,
		"max_position_embeddings": 32768,
		"rms_norm_eps":            1e-6,
		"rope_theta":              1e6,
		"tie_word_embeddings":     true,
		"use_sliding_window":      false,
		"attention_dropout":       0.0,
		"initializer_range":       *std,
		"bos_token_id":            151643,
		"eos_token_id":            151643,
		"torch_dtype":             "float32",
		"use_cache":               true,
	}
	if s.HeadDim*s.Heads != s.Hidden {
		cfg["head_dim"] = s.HeadDim
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(*out, "config.json"), func(w *bufio.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(*out, "model.safetensors"), func(w *bufio.Writer) error {
		return writeWeights(w, s.specs(), *seed, *std)
	})
}

// writeAtomic writes path through a temporary file in its folder, renamed into place when
// complete.
func writeAtomic(path string, fill func(*bufio.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	w := bufio.NewWriterSize(f, 4<<20)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
