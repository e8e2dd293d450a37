package hf

import (
	"fmt"
	"math"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// LM is a Llama- or Qwen2-family causal language model: token embeddings, L pre-norm decoder
// layers (RMSNorm, grouped-query attention with rotary positions, SwiGLU MLP), a final RMSNorm
// and the output head (tied to the embeddings or not).
type LM struct {
	cfg    LMConfig
	dev    gotch.Device
	kind   raw.Kind   // the dtype of weights and activations
	w      *raw.Arena // owns the weights
	embed  raw.Tensor // [V, D]
	layers []lmLayer
	norm   raw.Tensor // [D]
	head   raw.Tensor // [V, D]
	names  map[string]raw.Tensor
	order  []string // names in load order
	// prefix is where the decoder's tensors live in the folder: "model." (empty means that) for
	// a causal LM, "model.language_model." inside Janus.
	prefix string
}

type lmLayer struct {
	inNorm, postNorm raw.Tensor
	q, k, v, o       linear
	gate, up, down   linear
}

type linear struct{ w, b raw.Tensor }

// LoadLM reads a Llama or Qwen2 model folder onto dev, with weights and activations in kind
// (raw.Float32 or raw.BFloat16). Every tensor config.json implies must be present with its shape,
// and the folder may hold no other.
func LoadLM(dir string, dev gotch.Device, kind raw.Kind) (*LM, error) {
	cfg, err := ReadLMConfig(dir)
	if err != nil {
		return nil, err
	}
	ws, err := OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	m := &LM{cfg: cfg, dev: dev, kind: kind, w: raw.New(dev.CInt()), names: map[string]raw.Tensor{}}
	if err := m.load(ws); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *LM) load(ws *Weights) error {
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
	lin := func(name string, out, in int64, bias bool) linear {
		l := linear{w: get(name+".weight", out, in)}
		if bias {
			l.b = get(name+".bias", out)
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
		m.layers = append(m.layers, lmLayer{
			inNorm:   get(p+"input_layernorm.weight", D),
			q:        lin(p+"self_attn.q_proj", Hq, D, c.qkvBias()),
			k:        lin(p+"self_attn.k_proj", Hkv, D, c.qkvBias()),
			v:        lin(p+"self_attn.v_proj", Hkv, D, c.qkvBias()),
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

// Config returns the model's config.
func (m *LM) Config() LMConfig { return m.cfg }

// Close frees the weights.
func (m *LM) Close() {
	if m.w != nil {
		_ = m.w.Free()
		m.w = nil
	}
}

// Batch is the input of a forward pass: B rows of T token ids, the positions of each token
// (rotary), and which keys each row may attend to (1) or not (0, padding).
type Batch struct {
	IDs  [][]int
	Pos  [][]int
	Mask [][]int // [B][S]: S keys, the cached ones first
	// Last asks for the logits of the last position only ([B, 1, V]): generation reads no other,
	// and the head over a large vocabulary is a good part of a prompt's cost.
	Last bool
}

// kvCache holds, per layer, the keys and values of every position seen so far [B, KV, S, Dh].
type kvCache struct {
	k, v []raw.Tensor
}

// forward runs a batch through the model in arena a. With a cache, the batch's keys and values
// are appended to it and attention reads all of them. It returns the output of each layer
// (hidden[0] the embeddings, hidden[L] after the final norm) and the logits [B, T, V], in float32.
func (m *LM) forward(a *raw.Arena, in Batch, cache *kvCache) (hidden []raw.Tensor, logits raw.Tensor, err error) {
	c := m.cfg
	B, T := int64(len(in.IDs)), int64(len(in.IDs[0]))
	ids := make([]int64, 0, B*T)
	for _, row := range in.IDs {
		if int64(len(row)) != T {
			return nil, nil, fmt.Errorf("hf: rows of %d and %d tokens in one batch", len(row), T)
		}
		for _, id := range row {
			if id < 0 || id >= c.Vocab {
				return nil, nil, fmt.Errorf("hf: token id %d outside the vocabulary of %d", id, c.Vocab)
			}
			ids = append(ids, int64(id))
		}
	}
	cos, sin := m.rotary(a, in.Pos)
	mask := m.mask(a, in.Mask, T)
	x := a.Embedding(m.embed, a.FromInt64(ids, B, T)) // [B, T, D]
	return m.stack(a, x, cos, sin, mask, cache, in.Last)
}

// stack runs input embeddings x [B, T, D] through the decoder layers (rotary tables cos, sin and
// the additive mask given), the final norm and the head (of the last position only when last): the part every family of causal LM
// shares, whatever made x and the positions (text alone, or image features spliced in).
func (m *LM) stack(a *raw.Arena, x, cos, sin, mask raw.Tensor, cache *kvCache, last bool) (hidden []raw.Tensor, logits raw.Tensor, err error) {
	if hidden, err = m.trunk(a, x, cos, sin, mask, cache); err != nil {
		return nil, nil, err
	}
	x = hidden[len(hidden)-1]
	if last {
		if sh := a.Shape(x); sh != nil {
			x = a.Narrow(x, 1, sh[1]-1, 1)
		}
	}
	logits = a.To(a.Linear(x, m.head, nil), raw.Float32)
	return hidden, logits, a.Err()
}

// trunk is stack without the head: the decoder layers and the final norm, whose output is the
// last of the hidden states it returns (a family with other heads, Janus's, reads it).
func (m *LM) trunk(a *raw.Arena, x, cos, sin, mask raw.Tensor, cache *kvCache) (hidden []raw.Tensor, err error) {
	hidden = append(hidden, x)
	for l := range m.layers {
		// Each layer's temporaries live in their own arena, freed when the layer is done: only
		// its output and the cache move to a, so a forward pass holds one layer's activations at
		// a time (autograd keeps what a backward needs by itself).
		la := raw.New(m.dev.CInt())
		var kv *[2]raw.Tensor
		if cache != nil {
			kv = &[2]raw.Tensor{cache.k[l], cache.v[l]}
		}
		y := m.layer(la, &m.layers[l], x, cos, sin, mask, kv)
		if err := la.Err(); err != nil {
			la.Free()
			a.Fail(err)
			return nil, err
		}
		keep := []raw.Tensor{y}
		if cache != nil {
			keep = append(keep, kv[0], kv[1])
			cache.k[l], cache.v[l] = kv[0], kv[1]
		}
		for _, h := range keep {
			if la.Release(h) {
				a.Adopt(h)
			}
		}
		if err := la.Free(); err != nil {
			a.Fail(err)
			return nil, err
		}
		x = y
		if l < len(m.layers)-1 {
			hidden = append(hidden, x)
		}
	}
	hidden = append(hidden, m.rmsNorm(a, x, m.norm))
	return hidden, a.Err()
}

// layer is one decoder layer: x + attn(norm(x)), then + mlp(norm(.)). kv, when set, holds the
// cached keys and values on entry and the extended ones on return.
func (m *LM) layer(a *raw.Arena, w *lmLayer, x, cos, sin, mask raw.Tensor, kv *[2]raw.Tensor) raw.Tensor {
	c := m.cfg
	sh := a.Shape(x)
	if sh == nil {
		return nil
	}
	B, T := sh[0], sh[1]
	H, KV, Dh := int64(c.H), int64(c.KV), int64(c.Dh)
	h := m.rmsNorm(a, x, w.inNorm)
	heads := func(l linear, n int64) raw.Tensor { // [B, n, T, Dh]
		return a.Transpose(a.View(a.Linear(h, l.w, l.b), B, T, n, Dh), 1, 2)
	}
	q := rope(a, heads(w.q, H), cos, sin)
	k := rope(a, heads(w.k, KV), cos, sin)
	v := heads(w.v, KV)
	if kv != nil {
		if kv[0] != nil {
			k, v = a.Cat(2, kv[0], k), a.Cat(2, kv[1], v)
		}
		kv[0], kv[1] = k, v
	}
	if H != KV { // grouped-query attention: each key/value head serves H/KV query heads
		k, v = a.RepeatInterleave(k, H/KV, 1), a.RepeatInterleave(v, H/KV, 1)
	}
	o := attend(a, q, k, v, mask, m.kind, Dh)       // [B, H, T, Dh]
	o = a.Reshape(a.Transpose(o, 1, 2), B, T, H*Dh) // [B, T, H*Dh]
	x = a.Add(x, a.Linear(o, w.o.w, w.o.b))
	h = m.rmsNorm(a, x, w.postNorm)
	mlp := a.Mul(a.Silu(a.Linear(h, w.gate.w, w.gate.b)), a.Linear(h, w.up.w, w.up.b))
	return a.Add(x, a.Linear(mlp, w.down.w, w.down.b))
}

// attend is scaled dot-product attention with an additive mask [B, 1, T, S] (nil: every query
// sees every key), the softmax in float32: softmax(q k^T / sqrt(Dh) + mask) v. It is the one
// attention of the package: the language models' (cached or not) and the vision encoders'.
func attend(a *raw.Arena, q, k, v, mask raw.Tensor, kind raw.Kind, Dh int64) raw.Tensor {
	s := a.To(a.MulScalar(a.Matmul(q, a.Transpose(k, 2, 3)), 1/math.Sqrt(float64(Dh))), raw.Float32)
	if mask != nil {
		s = a.Add(s, mask)
	}
	return a.Matmul(a.To(a.Softmax(s, -1), kind), v)
}

// rmsNorm is the model's RMSNorm with its eps and kind.
func (m *LM) rmsNorm(a *raw.Arena, x, w raw.Tensor) raw.Tensor {
	return rmsNorm(a, x, w, m.cfg.Eps, m.kind)
}

// rmsNorm is w * x / sqrt(mean(x^2) + eps), computed in float32 and returned in kind: the one
// RMSNorm of the package (language models and the Qwen2.5-VL vision tower).
func rmsNorm(a *raw.Arena, x, w raw.Tensor, eps float64, kind raw.Kind) raw.Tensor {
	x32 := a.To(x, raw.Float32)
	r := a.Rsqrt(a.AddScalar(a.MeanDim(a.Mul(x32, x32), -1, true), eps))
	return a.Mul(w, a.To(a.Mul(x32, r), kind))
}

// rope rotates x [B, n, T, Dh] by the position angles: x cos + rotate_half(x) sin, where
// rotate_half(x) = (-x2, x1) for the halves x1, x2 of the head.
func rope(a *raw.Arena, x, cos, sin raw.Tensor) raw.Tensor {
	sh := a.Shape(x)
	if sh == nil {
		return nil
	}
	half := sh[3] / 2
	rot := a.Cat(3, a.Neg(a.Narrow(x, 3, half, half)), a.Narrow(x, 3, 0, half))
	return a.Add(a.Mul(x, cos), a.Mul(rot, sin))
}

// rotary returns cos and sin [B, 1, T, Dh] of the positions (rotaryTables with one axis).
func (m *LM) rotary(a *raw.Arena, pos [][]int) (cos, sin raw.Tensor) {
	return rotaryTables(a, m.kind, m.cfg.RopeTheta, m.cfg.Dh, [][][]int{pos}, func(int) int { return 0 })
}

// rotaryTables returns cos and sin [B, 1, T, Dh] of rotary embeddings, computed in float32 as
// transformers does: frequency i < Dh/2 is theta^(-2i/Dh), its angle at token (b, t) is
// pos[axis(i)][b][t] times it, and the two halves of the head share the frequencies. One axis
// is the plain rotary embedding; Qwen2.5-VL's M-RoPE gives the frequencies to the time, height
// and width positions in sections.
func rotaryTables(a *raw.Arena, kind raw.Kind, theta float64, Dh int, pos [][][]int, axis func(i int) int) (cos, sin raw.Tensor) {
	B, T := len(pos[0]), len(pos[0][0])
	cs := make([]float32, B*T*Dh)
	sn := make([]float32, B*T*Dh)
	for i := range Dh / 2 {
		f := float32(1 / math.Pow(theta, float64(2*i)/float64(Dh)))
		p := pos[axis(i)]
		for b := range B {
			for t := range T {
				ang := float32(p[b][t]) * f
				c, s := float32(math.Cos(float64(ang))), float32(math.Sin(float64(ang)))
				base := (b*T + t) * Dh
				cs[base+i], cs[base+i+Dh/2] = c, c
				sn[base+i], sn[base+i+Dh/2] = s, s
			}
		}
	}
	shape := []int64{int64(B), 1, int64(T), int64(Dh)}
	return a.To(a.FromFloat32(cs, shape...), kind), a.To(a.FromFloat32(sn, shape...), kind)
}

// mask is the additive attention mask [B, 1, T, S] of T new queries over S keys (the last T of
// them new): key j is open to query i when it is not padding and not in its future. Closed keys
// get the lowest float32, not -Inf, so that a query with no open key (a padding position) gets
// finite, unused outputs instead of NaNs that would reach the other rows' keys.
func (m *LM) mask(a *raw.Arena, keys [][]int, T int64) raw.Tensor {
	B, S := len(keys), len(keys[0])
	vals := make([]float32, B*int(T)*S)
	neg := float32(-math.MaxFloat32)
	for b, row := range keys {
		for i := 0; i < int(T); i++ {
			q := S - int(T) + i // the query's own key index
			for j := 0; j < S; j++ {
				if j > q || row[j] == 0 {
					vals[(b*int(T)+i)*S+j] = neg
				}
			}
		}
	}
	return a.FromFloat32(vals, int64(B), 1, T, int64(S))
}
