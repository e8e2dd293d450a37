package lm

import (
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Model is a Llama- or Qwen2-family causal language model: the core's decoder (hf.Decoder), read
// from a model folder.
type Model struct{ *hf.Decoder }

// Load reads a Llama or Qwen2 model folder onto dev, with weights and activations in kind
// (raw.Float32 or raw.BFloat16). Every tensor config.json implies must be present with its shape,
// and the folder may hold no other.
func Load(dir string, dev gotch.Device, kind raw.Kind) (*Model, error) {
	cfg, err := hf.ReadLMConfig(dir)
	if err != nil {
		return nil, err
	}
	ws, err := hf.OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	m := hf.NewDecoder(cfg, dev, kind, "")
	if err := m.Load(ws); err != nil {
		m.Close()
		return nil, err
	}
	return &Model{m}, nil
}
