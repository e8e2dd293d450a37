package hf

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// LoRAConfig is low-rank adaptation of a decoder's linear layers (Hu et al., 2021, as PEFT
// implements it): each targeted projection y = W x + b becomes y = W x + b + (Alpha/Rank) B A x,
// with A [Rank, in] and B [out, Rank] the only weights that train.
type LoRAConfig struct {
	Rank  int
	Alpha float64
	// Targets are the projections adapted in every layer, by their Hugging Face module names:
	// q_proj, k_proj, v_proj, o_proj (attention) and gate_proj, up_proj, down_proj (MLP).
	Targets []string
}

// LoRATargets lists the projections a LoRAConfig may target, attention first.
func LoRATargets() []string {
	return []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
}

// DefaultLoRATargets are the attention projections, PEFT's and TRL's usual choice.
func DefaultLoRATargets() []string { return []string{"q_proj", "k_proj", "v_proj", "o_proj"} }

// Scale is the factor of the adapters' product, Alpha/Rank.
func (c LoRAConfig) Scale() float64 { return c.Alpha / float64(c.Rank) }

// Check reports a config that cannot be applied, naming the problem.
func (c LoRAConfig) Check() error {
	if c.Rank < 1 {
		return fmt.Errorf("lora: rank %d: it must be at least 1", c.Rank)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return fmt.Errorf("lora: alpha %v: it must be a positive number", c.Alpha)
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("lora: no target projection; name some of %s", strings.Join(LoRATargets(), ","))
	}
	for i, t := range c.Targets {
		if !slices.Contains(LoRATargets(), t) {
			return fmt.Errorf("lora: unknown target %q; the projections are %s", t, strings.Join(LoRATargets(), ","))
		}
		if slices.Contains(c.Targets[:i], t) {
			return fmt.Errorf("lora: target %q named twice", t)
		}
	}
	return nil
}

// loraAdapter is the pair of matrices of one adapted projection: A [R, in], B [out, R].
type loraAdapter struct{ A, B raw.Tensor }

// loraSet is a decoder's adapters: their config, their weights (in their own arena) under PEFT's
// tensor names, and whether the forward applies them.
type loraSet struct {
	cfg   LoRAConfig
	w     *raw.Arena
	names map[string]raw.Tensor
	order []string // PEFT names, in layer order, A before B
	off   bool
}

// PEFTName is the name PEFT gives a LoRA matrix ("lora_A" or "lora_B") of the projection whose
// weight is weight ("model.layers.0.self_attn.q_proj.weight") in adapter_model.safetensors.
//
// From PEFT's public source (huggingface/peft): get_peft_model wraps the model as
// PeftModelForCausalLM(base_model=LoraModel(model=<the transformers model>)), so the state dict's
// keys start "base_model.model."; LoraLayer keeps lora_A and lora_B as ModuleDicts keyed by the
// adapter name, and utils/save_and_load.py get_peft_model_state_dict removes ".<adapter name>"
// from the keys it saves. A key is thus
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight, lora_A [r, in] and lora_B
// [out, r] (nn.Linear weights).
func PEFTName(weight, which string) string {
	return "base_model.model." + strings.TrimSuffix(weight, ".weight") + "." + which + ".weight"
}

// AddLoRA gives the decoder fresh adapters of cfg on its targeted projections: A drawn as PEFT's
// default (Kaiming-uniform with a = sqrt(5): uniform in +-1/sqrt(in)) from streams keyed by seed
// and the tensor's name, B zeros, so that the adapted model starts as the base model exactly.
// The adapters are in the decoder's kind; they are on (SetLoRA).
func (m *Decoder) AddLoRA(cfg LoRAConfig, seed uint64) error {
	return m.attachLoRA(cfg, func(a *raw.Arena, name string, shape []int64) (raw.Tensor, error) {
		if strings.Contains(name, ".lora_B.") {
			return a.To(a.Zeros(shape...), m.kind), a.Err()
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		rng := rand.New(rand.NewPCG(seed, h.Sum64()))
		bound := 1 / math.Sqrt(float64(shape[1]))
		vals := make([]float32, Numel(shape))
		for i := range vals {
			vals[i] = float32((2*rng.Float64() - 1) * bound)
		}
		return a.To(a.FromFloat32(vals, shape...), m.kind), a.Err()
	})
}

// LoadLoRA gives the decoder the adapters of cfg read from ws (an adapter_model.safetensors
// under PEFT's names): every adapter the config implies must be there with its shape, and
// nothing else.
func (m *Decoder) LoadLoRA(cfg LoRAConfig, ws *Weights) error {
	if err := m.attachLoRA(cfg, func(a *raw.Arena, name string, shape []int64) (raw.Tensor, error) {
		return ws.Load(a, name, m.kind, shape...)
	}); err != nil {
		return err
	}
	for _, n := range ws.Names() {
		if _, ok := m.lora.names[n]; !ok {
			m.dropLoRA()
			return fmt.Errorf("hf: adapter file %s holds %s, which a rank-%d LoRA of %s does not have", ws.Dir(), n, cfg.Rank, strings.Join(cfg.Targets, ","))
		}
	}
	return nil
}

// dropLoRA unhooks and frees the adapters: the decoder is the base model again.
func (m *Decoder) dropLoRA() {
	if m.lora == nil {
		return
	}
	for i := range m.layers {
		for _, t := range m.lora.cfg.Targets {
			l, _ := m.projection(i, t)
			l.lora = nil
		}
	}
	m.closeLoRA()
	m.lora = nil
}

// attachLoRA makes the adapters of cfg with mk and hooks them to the projections.
func (m *Decoder) attachLoRA(cfg LoRAConfig, mk func(a *raw.Arena, name string, shape []int64) (raw.Tensor, error)) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	if m.lora != nil {
		return fmt.Errorf("hf: the decoder already has LoRA adapters")
	}
	s := &loraSet{cfg: cfg, w: raw.New(m.dev.CInt()), names: map[string]raw.Tensor{}}
	fail := func(err error) error { // unhook what was hooked, and free it
		for i := range m.layers {
			for _, t := range cfg.Targets {
				l, _ := m.projection(i, t)
				l.lora = nil
			}
		}
		s.w.Free()
		return err
	}
	R := int64(cfg.Rank)
	for i := range m.layers {
		for _, t := range cfg.Targets {
			l, weight := m.projection(i, t)
			shape := m.w.Shape(l.W)
			if shape == nil {
				return fail(fmt.Errorf("hf: LoRA on layer %d %s: %w", i, t, m.w.Err()))
			}
			var ad loraAdapter
			for _, p := range []struct {
				which string
				shape []int64
				dst   *raw.Tensor
			}{{"lora_A", []int64{R, shape[1]}, &ad.A}, {"lora_B", []int64{shape[0], R}, &ad.B}} {
				name := PEFTName(m.peftWeight(weight), p.which)
				x, err := mk(s.w, name, p.shape)
				if err != nil {
					return fail(fmt.Errorf("hf: LoRA %s: %w", name, err))
				}
				*p.dst = x
				s.names[name] = x
				s.order = append(s.order, name)
			}
			l.lora = &ad
		}
	}
	m.lora = s
	return nil
}

// projection returns the Linear of target t in layer i and its weight's name in the folder.
func (m *Decoder) projection(i int, t string) (*Linear, string) {
	w := &m.layers[i]
	pre := m.prefix
	if pre == "" {
		pre = "model."
	}
	lin := map[string]*Linear{"q_proj": &w.q, "k_proj": &w.k, "v_proj": &w.v, "o_proj": &w.o, "gate_proj": &w.gate, "up_proj": &w.up, "down_proj": &w.down}[t]
	part := "self_attn."
	if t == "gate_proj" || t == "up_proj" || t == "down_proj" {
		part = "mlp."
	}
	return lin, fmt.Sprintf("%slayers.%d.%s%s.weight", pre, i, part, t)
}

// SetPEFTModule names where the decoder's layers sit in the transformers model PEFT wraps
// (module, ending in "."), when a family's folder keeps them elsewhere: Qwen2.5-VL's folders hold
// model.layers.*, but its transformers 5 module tree has them at model.language_model.layers.*,
// and PEFT names adapters by module. exclude, when not empty, is a regular expression (Python's,
// matched whole) of the modules beside the decoder whose names end like its targets, which
// adapter_config.json's exclude_modules keeps PEFT from adapting (PEFT's
// check_target_module_exists re.fullmatch-es a string exclude_modules against each module's
// name before it matches target_modules by suffix). Set it before adding adapters.
func (m *Decoder) SetPEFTModule(module, exclude string) {
	m.peftModule, m.peftExclude = module, exclude
}

// peftWeight is the module-tree name of a weight of the folder: the folder's prefix replaced by
// the PEFT module, if one is set.
func (m *Decoder) peftWeight(weight string) string {
	if m.peftModule == "" {
		return weight
	}
	pre := m.prefix
	if pre == "" {
		pre = "model."
	}
	return m.peftModule + strings.TrimPrefix(weight, pre)
}

// project applies a projection of a decoder layer to x: W x + b, plus the scaled adapters'
// B A x when the projection has adapters and they are on. It is the one place the adapters act.
func (m *Decoder) project(a *raw.Arena, l Linear, x raw.Tensor) raw.Tensor {
	y := a.Linear(x, l.W, l.B)
	if l.lora == nil || m.lora == nil || m.lora.off {
		return y
	}
	d := a.Linear(a.Linear(x, l.lora.A, nil), l.lora.B, nil)
	return a.Add(y, a.MulScalar(d, m.lora.cfg.Scale()))
}

// LoRA returns the decoder's adapter config, and whether it has adapters.
func (m *Decoder) LoRA() (LoRAConfig, bool) {
	if m.lora == nil {
		return LoRAConfig{}, false
	}
	return m.lora.cfg, true
}

// SetLoRA turns the adapters on or off in the forward (off: the base model, the KL reference of a
// LoRA run) and returns the previous setting. Without adapters it does nothing.
func (m *Decoder) SetLoRA(on bool) (prev bool) {
	if m.lora == nil {
		return false
	}
	prev = !m.lora.off
	m.lora.off = !on
	return prev
}

// LoRATensors returns the adapters under their PEFT names (a new map; empty without adapters).
func (m *Decoder) LoRATensors() map[string]raw.Tensor {
	out := map[string]raw.Tensor{}
	if m.lora != nil {
		for n, t := range m.lora.names {
			out[n] = t
		}
	}
	return out
}

// loraTrainable is SetTrainable of a decoder with adapters: the base weights never train, and
// with on the adapters do, returned as parameters under their PEFT names in layer order.
func (m *Decoder) loraTrainable(on bool) ([]policy.Param, error) {
	for name, h := range m.names {
		if err := raw.SetRequiresGrad(h, false); err != nil {
			return nil, fmt.Errorf("hf: %s: %w", name, err)
		}
	}
	var params []policy.Param
	s := m.lora
	for _, name := range s.order {
		h := s.names[name]
		if err := raw.SetRequiresGrad(h, on); err != nil {
			return params, fmt.Errorf("hf: %s: %w", name, err)
		}
		if on {
			params = append(params, policy.Param{Name: name, Decay: true, Shape: s.w.Shape(h), Tensor: s.w.Keep(h)})
		}
	}
	return params, s.w.Err()
}

// loraTrains reports whether an adapter requires grad.
func (m *Decoder) loraTrains() bool {
	if m.lora == nil {
		return false
	}
	for _, t := range m.lora.names {
		if raw.RequiresGrad(t) {
			return true
		}
	}
	return false
}

// MergedTensors returns the decoder's weights by their folder names (Tensors) with the adapters
// merged into the projections they adapt: W + (Alpha/Rank) B A, computed in float32 and kept in
// float32 (new tensors of arena a; the others are the decoder's own). Without adapters it is
// Tensors.
func (m *Decoder) MergedTensors(a *raw.Arena) (map[string]raw.Tensor, error) {
	out := m.Tensors()
	if m.lora == nil {
		return out, nil
	}
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	scale := m.lora.cfg.Scale()
	for i := range m.layers {
		for _, t := range m.lora.cfg.Targets {
			l, weight := m.projection(i, t)
			f32 := func(x raw.Tensor) raw.Tensor { return a.To(x, raw.Float32) }
			delta := a.MulScalar(a.Matmul(f32(l.lora.B), f32(l.lora.A)), scale)
			out[weight] = a.Add(f32(l.W), delta)
		}
	}
	return out, a.Err()
}

// closeLoRA frees the adapters.
func (m *Decoder) closeLoRA() {
	if m.lora != nil && m.lora.w != nil {
		_ = m.lora.w.Free()
		m.lora.w = nil
	}
}
