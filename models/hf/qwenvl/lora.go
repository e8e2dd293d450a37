package qwenvl

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// peftModule is where the language model's decoder layers sit in transformers 5's
// Qwen2_5_VLForConditionalGeneration, whose module tree PEFT names adapters by.
//
// From huggingface/transformers src/transformers/models/qwen2_5_vl/modeling_qwen2_5_vl.py:
// Qwen2_5_VLForConditionalGeneration.__init__ sets self.model = Qwen2_5_VLModel(config) and
// self.lm_head; Qwen2_5_VLModel.__init__ sets self.visual (the vision tower) and
// self.language_model = Qwen2_5_VLTextModel, whose self.layers hold Qwen2_5_VLDecoderLayer with
// self_attn.{q,k,v,o}_proj and mlp.{gate,up,down}_proj (its _checkpoint_conversion_mapping
// "^model" -> "language_model" is the older folder layout this package also reads). A query
// projection is thus the module model.language_model.layers.N.self_attn.q_proj, and PEFT
// (utils/save_and_load.py, get_peft_model_state_dict, over PeftModel's base_model.model.) saves
// its adapters as base_model.model.model.language_model.layers.N.self_attn.q_proj.lora_A.weight
// (hf.PEFTName).
const peftModule = "model.language_model."

// peftExclude is adapter_config.json's exclude_modules for Qwen2.5-VL: the vision tower, at
// model.visual in the same module tree, has MLPs named gate_proj, up_proj and down_proj
// (Qwen2_5_VLMLP in visual.blocks.N.mlp), which PEFT's suffix match of target_modules would
// otherwise adapt too.
const peftExclude = `model\.visual\..*`

// processorFiles are the files besides the tokenizer's a Qwen2.5-VL folder needs, copied into
// every folder a policy writes.
func processorFiles() []string {
	return []string{"preprocessor_config.json", "processor_config.json", "chat_template.jinja", "chat_template.json"}
}

// AddLoRA gives the language model fresh LoRA adapters of cfg (hf.Decoder.AddLoRA: A drawn from
// seed, B zeros); the vision tower has none and stays frozen.
func (m *Model) AddLoRA(cfg hf.LoRAConfig, seed uint64) error { return m.lm.AddLoRA(cfg, seed) }

// LoadAdapterFolder gives the language model the adapters of a PEFT adapter folder.
func (m *Model) LoadAdapterFolder(dir string) error { return m.lm.LoadAdapterFolder(dir) }

// LoRATensors returns the adapters under their PEFT names.
func (m *Model) LoRATensors() map[string]raw.Tensor { return m.lm.LoRATensors() }

// SetLoRA turns the adapters on or off and returns the previous setting.
func (m *Model) SetLoRA(on bool) bool { return m.lm.SetLoRA(on) }

// SaveLoRA writes the adapters to dir as a PEFT adapter folder over the base folder base.
func (m *Model) SaveLoRA(dir, base string, meta map[string]string) error {
	return m.lm.SaveLoRA(dir, base, meta)
}

// SaveMerged writes the model with its adapters merged into the language model (W + (alpha/R)
// B A, float32) and its vision tower as loaded to path as a float32 Qwen2.5-VL folder, with the
// config, tokenizer and processor files of the base folder src.
func (m *Model) SaveMerged(path, src string, meta map[string]string) error {
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	all, err := m.lm.MergedTensors(a)
	if err != nil {
		return fmt.Errorf("hf: merge adapters: %w", err)
	}
	for _, n := range m.vision.names {
		all[n] = m.vision.named[n]
	}
	return hf.SaveFolder(path, m.lm.Device(), all, src, meta, processorFiles())
}

// AddLoRA gives the policy fresh LoRA adapters of cfg on its language model: from then on its
// trainable parameters are the adapters alone (base and vision tower frozen), its KL reference
// is itself with the adapters off, and Save writes a PEFT adapter folder.
func (p *Policy) AddLoRA(cfg hf.LoRAConfig, seed uint64) error {
	if err := p.Model.AddLoRA(cfg, seed); err != nil {
		return err
	}
	return p.SetTrainable(p.params != nil)
}

// NewAdaptedPolicy loads the base Qwen2.5-VL folder an adapter folder names and its LoRA
// adapters, as NewPolicy does a model folder; trainable says whether the adapters train.
func NewAdaptedPolicy(adapters string, dev gotch.Device, kind raw.Kind, prompt string, size, maxLen int, trainable bool) (*Policy, error) {
	base, err := hf.AdapterBase(adapters)
	if err != nil {
		return nil, err
	}
	p, err := NewPolicy(base, dev, kind, prompt, size, maxLen, false)
	if err != nil {
		return nil, fmt.Errorf("the base model of the adapters in %s: %w", adapters, err)
	}
	if err := p.Model.LoadAdapterFolder(adapters); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.SetTrainable(trainable); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// HasAdapters reports whether the policy has LoRA adapters.
func (p *Policy) HasAdapters() bool {
	_, ok := p.Model.lm.LoRA()
	return ok
}

// SetAdapters turns the adapters on or off (off: the base model, the KL reference of a LoRA run)
// and returns the previous setting.
func (p *Policy) SetAdapters(on bool) bool { return p.Model.SetLoRA(on) }

// SaveMerged writes the policy with its adapters merged to path as a float32 Qwen2.5-VL folder
// (Model.SaveMerged).
func (p *Policy) SaveMerged(path string, meta map[string]string) error {
	return p.Model.SaveMerged(path, p.dir, meta)
}
