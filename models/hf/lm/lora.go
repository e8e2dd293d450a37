package lm

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// AddLoRA gives the policy fresh LoRA adapters of cfg (hf.Decoder.AddLoRA, A drawn from seed, B
// zeros): from then on its trainable parameters are the adapters alone, the base weights frozen,
// and Save writes the adapters as a PEFT adapter folder.
func (p *TextPolicy) AddLoRA(cfg hf.LoRAConfig, seed uint64) error {
	if err := p.LM.AddLoRA(cfg, seed); err != nil {
		return err
	}
	return p.SetTrainable(p.params != nil)
}

// NewAdaptedTextPolicy loads the base model an adapter folder names and its LoRA adapters, as
// NewTextPolicy does a model folder; trainable says whether the adapters train.
func NewAdaptedTextPolicy(adapters string, dev gotch.Device, kind raw.Kind, prompt, stop []int, detok func([]int) string, maxLen int, trainable bool) (*TextPolicy, error) {
	base, err := hf.AdapterBase(adapters)
	if err != nil {
		return nil, err
	}
	p, err := NewTextPolicy(base, dev, kind, prompt, stop, detok, maxLen, false)
	if err != nil {
		return nil, fmt.Errorf("the base model of the adapters in %s: %w", adapters, err)
	}
	if err := p.LM.LoadAdapterFolder(adapters); err != nil {
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
func (p *TextPolicy) HasAdapters() bool {
	_, ok := p.LM.LoRA()
	return ok
}

// SetAdapters turns the adapters on or off (off: the base model, the KL reference of a LoRA run)
// and returns the previous setting.
func (p *TextPolicy) SetAdapters(on bool) bool { return p.LM.SetLoRA(on) }

// SaveMerged writes the policy with its adapters merged (W + (alpha/R) B A) to path as a float32
// Hugging Face model folder with the base folder's config and tokenizer files.
func (p *TextPolicy) SaveMerged(path string, meta map[string]string) error {
	return p.LM.SaveMerged(path, p.dir, meta)
}
