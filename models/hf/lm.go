package hf

import (
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// LM is a Llama- or Qwen2-family causal language model: its Decoder, read from a model folder.
type LM struct{ *Decoder }

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
	m := NewDecoder(cfg, dev, kind, "")
	if err := m.Load(ws); err != nil {
		m.Close()
		return nil, err
	}
	return &LM{m}, nil
}
