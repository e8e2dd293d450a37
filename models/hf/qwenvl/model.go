package qwenvl

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Model is a Qwen2.5-VL model: the vision tower and the language model, whose weights share one
// arena (the LM's).
type Model struct {
	cfg    Config
	lm     *hf.Decoder // the language model; its arena owns every weight
	vision visionTower
}

// Load reads a Qwen2_5_VLForConditionalGeneration folder onto dev, with weights and
// activations in kind (raw.Float32 or raw.BFloat16). Every tensor config.json implies must be
// present with its shape, and the folder may hold no other. Both weight layouts are read: the
// original one (model.layers.*, visual.*) that transformers writes, and its in-memory one
// (model.language_model.*, model.visual.*).
func Load(dir string, dev gotch.Device, kind raw.Kind) (*Model, error) {
	return load(dir, dev, kind, nil)
}

// LoadSharingVision is Load with the vision tower of from instead of the folder's: one copy of a
// frozen tower serves two models (the policy and its KL reference). The tower stays from's: close
// this model before from. The two configs must agree on the tower.
func LoadSharingVision(dir string, dev gotch.Device, kind raw.Kind, from *Model) (*Model, error) {
	return load(dir, dev, kind, from)
}

func load(dir string, dev gotch.Device, kind raw.Kind, from *Model) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	ws, err := hf.OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	text, vis, err := splitWeights(ws)
	if err != nil {
		return nil, err
	}
	lm := hf.NewDecoder(cfg.Text, dev, kind, "")
	lm.SetPEFTModule(peftModule, peftExclude)
	m := &Model{cfg: cfg, lm: lm}
	if err := lm.Load(text); err != nil {
		m.Close()
		return nil, err
	}
	if from != nil {
		if !reflect.DeepEqual(from.cfg.Vision, cfg.Vision) || from.vision.kind != kind {
			m.Close()
			return nil, fmt.Errorf("hf: %s: its vision tower differs from the one to share (config or dtype)", dir)
		}
		m.vision = from.vision
		return m, nil
	}
	if err := m.vision.load(vis, cfg.Vision, lm.Arena(), kind); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// splitWeights splits a folder's tensors into the language model's, under the names
// hf.Decoder.Load reads (model.*, lm_head.weight), and the vision tower's (visual.*). The views
// share the folder's mapped files; only ws is to be closed.
func splitWeights(ws *hf.Weights) (text, vis *hf.Weights, err error) {
	textNames, visNames := map[string]string{}, map[string]string{}
	for _, name := range ws.Names() {
		dst, n := textNames, name
		switch {
		case strings.HasPrefix(name, "model.language_model."):
			n = "model." + strings.TrimPrefix(name, "model.language_model.")
		case strings.HasPrefix(name, "model.visual."):
			dst, n = visNames, strings.TrimPrefix(name, "model.")
		case strings.HasPrefix(name, "visual."):
			dst = visNames
		}
		if _, dup := dst[n]; dup {
			return nil, nil, fmt.Errorf("hf: %s holds tensor %s twice (as %s and in the other layout)", ws.Dir(), n, name)
		}
		dst[n] = name
	}
	return ws.View(textNames), ws.View(visNames), nil
}

// Tensors returns every weight by its name as loaded (the language model's under model.* and
// lm_head.weight, the vision tower's under visual.*), in a new map.
func (m *Model) Tensors() map[string]raw.Tensor {
	all := m.lm.Tensors()
	for n, t := range m.vision.named {
		all[n] = t
	}
	return all
}

// Config returns the model's config.
func (m *Model) Config() Config { return m.cfg }

// Close frees the weights.
func (m *Model) Close() {
	if m.lm != nil {
		m.lm.Close()
	}
}
