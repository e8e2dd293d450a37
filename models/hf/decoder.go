package hf

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Decoder is the decoder of a Llama- or Qwen2-family causal language model: token embeddings,
// L pre-norm decoder layers (RMSNorm, grouped-query attention with rotary positions, SwiGLU
// MLP), a final RMSNorm and the output head (tied to the embeddings or not). It is the language
// model of every family read here: the causal LMs (package lm), Qwen2.5-VL's and Janus's.
type Decoder struct {
	cfg    LMConfig
	dev    gotch.Device
	kind   raw.Kind   // the dtype of weights and activations
	w      *raw.Arena // owns the weights
	embed  raw.Tensor // [V, D]
	layers []decoderLayer
	norm   raw.Tensor // [D]
	head   raw.Tensor // [V, D]
	names  map[string]raw.Tensor
	order  []string // names in load order
	// prefix is where the decoder's tensors live in the folder: "model." (empty means that) for
	// a causal LM, "model.language_model." inside Janus.
	prefix string
	// peftModule is where the decoder's layers sit in the transformers module tree PEFT wraps,
	// when it is not where they sit in the folder (SetPEFTModule; empty: the folder's prefix), and
	// peftExclude the regular expression of the modules beside it PEFT must not adapt.
	peftModule, peftExclude string
	lora                    *loraSet // LoRA adapters (nil: none; lora.go)
}

type decoderLayer struct {
	inNorm, postNorm raw.Tensor
	q, k, v, o       Linear
	gate, up, down   Linear
}

// NewDecoder makes an empty decoder of config cfg on dev, with weights and activations in kind
// (raw.Float32 or raw.BFloat16), whose tensors are under prefix in a folder ("" for "model.");
// Load reads them. Its arena may own other weights of a family's model too (Arena).
func NewDecoder(cfg LMConfig, dev gotch.Device, kind raw.Kind, prefix string) *Decoder {
	return &Decoder{cfg: cfg, dev: dev, kind: kind, w: raw.New(dev.CInt()), names: map[string]raw.Tensor{}, prefix: prefix}
}

// Load reads the decoder's tensors from ws. Every tensor the config implies must be present
// with its shape, and ws may hold no other.
func (m *Decoder) Load(ws *Weights) error {
	c := m.cfg
	D, F, V := int64(c.D), int64(c.F), int64(c.Vocab)
	Hq, Hkv := int64(c.H*c.Dh), int64(c.KV*c.Dh)
	var err error
	get := func(name string, shape ...int64) raw.Tensor {
		if err != nil {
			return nil
		}
		var t raw.Tensor
		if t, err = ws.Load(m.w, name, m.kind, shape...); err == nil {
			m.names[name] = t
			m.order = append(m.order, name)
		}
		return t
	}
	lin := func(name string, out, in int64, bias bool) Linear {
		l := Linear{W: get(name+".weight", out, in)}
		if bias {
			l.B = get(name+".bias", out)
		}
		return l
	}
	pre := m.prefix
	if pre == "" {
		pre = "model."
	}
	m.embed = get(pre+"embed_tokens.weight", V, D)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("%slayers.%d.", pre, i)
		m.layers = append(m.layers, decoderLayer{
			inNorm:   get(p+"input_layernorm.weight", D),
			q:        lin(p+"self_attn.q_proj", Hq, D, c.QKVBias()),
			k:        lin(p+"self_attn.k_proj", Hkv, D, c.QKVBias()),
			v:        lin(p+"self_attn.v_proj", Hkv, D, c.QKVBias()),
			o:        lin(p+"self_attn.o_proj", D, Hq, c.AttnBias),
			postNorm: get(p+"post_attention_layernorm.weight", D),
			gate:     lin(p+"mlp.gate_proj", F, D, c.MLPBias),
			up:       lin(p+"mlp.up_proj", F, D, c.MLPBias),
			down:     lin(p+"mlp.down_proj", D, F, c.MLPBias),
		})
	}
	m.norm = get(pre+"norm.weight", D)
	if c.TieEmbedding {
		m.head = m.embed
		if _, ok := ws.Shape("lm_head.weight"); ok {
			m.order = append(m.order, "lm_head.weight") // a tied copy some exports keep: not read
		}
	} else {
		m.head = get("lm_head.weight", V, D)
	}
	if err != nil {
		return err
	}
	return m.checkExtra(ws)
}

// checkExtra refuses tensors of ws that are not the decoder's.
func (m *Decoder) checkExtra(ws *Weights) error {
	c := m.cfg
	var extra []string
	for _, n := range ws.Names() {
		if _, ok := m.names[n]; !ok && !(c.TieEmbedding && n == "lm_head.weight") {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("hf: %d tensors of the folder are not part of a %s model of this config: %s", len(extra), c.ModelType, strings.Join(extra[:min(5, len(extra))], ", "))
	}
	return m.w.Err()
}

// Config returns the decoder's config.
func (m *Decoder) Config() LMConfig { return m.cfg }

// Device is where the weights live.
func (m *Decoder) Device() gotch.Device { return m.dev }

// Kind is the dtype of the weights and activations.
func (m *Decoder) Kind() raw.Kind { return m.kind }

// Arena owns the decoder's weights (and those a family's model loads beside them); Close frees
// it.
func (m *Decoder) Arena() *raw.Arena { return m.w }

// Embedding is the token embedding table [V, D].
func (m *Decoder) Embedding() raw.Tensor { return m.embed }

// Head is the output head [V, D] (the embedding table when tied).
func (m *Decoder) Head() raw.Tensor { return m.head }

// Tensors returns the weights by their names in the folder (a new map).
func (m *Decoder) Tensors() map[string]raw.Tensor {
	out := make(map[string]raw.Tensor, len(m.names))
	for n, t := range m.names {
		out[n] = t
	}
	return out
}

// Order lists the weights' names in load order, with lm_head.weight where the folder keeps a
// tied copy (which is not read: it is not among Tensors).
func (m *Decoder) Order() []string { return append([]string(nil), m.order...) }

// SetTrainable turns training of every weight on or off. With on, it returns the weights as
// trainable parameters in load order, each a new handle the caller drops; on an error, those
// made before it. A decoder with LoRA adapters trains its adapters only (lora.go).
func (m *Decoder) SetTrainable(on bool) ([]policy.Param, error) {
	if m.lora != nil {
		return m.loraTrainable(on)
	}
	var params []policy.Param
	for _, name := range m.order {
		h, ok := m.names[name]
		if !ok {
			continue
		}
		if err := raw.SetRequiresGrad(h, on); err != nil {
			return params, fmt.Errorf("hf: %s: %w", name, err)
		}
		if on {
			shape := m.w.Shape(h)
			params = append(params, policy.Param{Name: name, Decay: len(shape) >= 2, Shape: shape, Tensor: m.w.Keep(h)})
		}
	}
	return params, m.w.Err()
}

// Close frees the weights.
func (m *Decoder) Close() {
	m.closeLoRA()
	if m.w != nil {
		_ = m.w.Free()
		m.w = nil
	}
}
