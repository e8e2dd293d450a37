package vit

import (
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// vitLoadCase is a damaged copy of a family's folder and the error it should give.
type vitLoadCase struct {
	name, family string
	edit         func(map[string]map[string]any)
	cfg          func(map[string]any)
	want         string // "" for no error
}

// vitLoadCases are the folders TestViTLoadErrors loads; the ninth is a full CLIP folder.
func vitLoadCases() []vitLoadCase {
	cases := []vitLoadCase{
		{"missing", "siglip_vision", func(h map[string]map[string]any) { delete(h, "head.probe") }, nil, "no tensor head.probe"},
		{"missing layer", "clip_vision", nil, func(c map[string]any) { c["num_hidden_layers"] = 3 }, "no tensor vision_model.encoder.layers.2."},
		{"extra", "dinov2", func(h map[string]map[string]any) { h["encoder.layer.9.norm1.weight"] = h["layernorm.weight"] }, nil, "encoder.layer.9.norm1.weight"},
		{"shape", "dinov2", func(h map[string]map[string]any) { h["encoder.layer.1.mlp.fc1.weight"]["shape"] = []int{32, 64} }, nil, "encoder.layer.1.mlp.fc1.weight has shape [32 64]"},
		{"config shape", "clip_vision", nil, func(c map[string]any) { c["projection_dim"] = 8 }, "visual_projection.weight has shape [16 32]"},
		{"model_type", "clip_vision", nil, func(c map[string]any) { c["model_type"] = "vit" }, `model_type "vit"`},
		{"activation", "siglip_vision", nil, func(c map[string]any) { c["hidden_act"] = "relu" }, `hidden_act "relu"`},
		{"text tower of a vision model", "clip_vision", func(h map[string]map[string]any) {
			h["text_model.final_layer_norm.weight"] = h["vision_model.post_layernorm.weight"]
		}, nil, "text_model.final_layer_norm.weight"},
		{"full clip folder", "clip_vision", func(h map[string]map[string]any) {
			h["text_model.final_layer_norm.weight"] = h["vision_model.post_layernorm.weight"]
			h["logit_scale"] = h["vision_model.post_layernorm.weight"]
		}, func(c map[string]any) {
			vc := map[string]any{}
			for k, v := range c {
				vc[k] = v
			}
			delete(vc, "model_type")
			delete(vc, "projection_dim")
			for k := range c {
				delete(c, k)
			}
			c["model_type"], c["projection_dim"], c["vision_config"] = "clip", 16, vc
		}, ""},
		{"siglip under vision_model.", "siglip_vision", func(h map[string]map[string]any) {
			var keys []string
			for k := range h {
				if k != "__metadata__" {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				h["vision_model."+k] = h[k]
				delete(h, k)
			}
		}, nil, ""},
	}
	cases = append(cases, []vitLoadCase{
		{"clip without projection", "clip_vision", func(h map[string]map[string]any) { delete(h, "visual_projection.weight") }, nil, ""},
		{"dinov2 classification folder", "dinov2", func(h map[string]map[string]any) {
			var keys []string
			for k := range h {
				if k != "__metadata__" {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				h["dinov2."+k] = h[k]
				delete(h, k)
			}
			h["classifier.bias"] = h["dinov2.layernorm.bias"]
		}, nil, ""},
		{"dinov2 without mask token", "dinov2", nil, func(c map[string]any) { c["use_mask_token"] = false }, "embeddings.mask_token"},
	}...)
	return cases
}

// A missing, unexpected or misshapen tensor, an unknown model_type or processor is an error
// naming it; a full two-tower folder's text tower is accepted unread.
func TestViTLoadErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cases := vitLoadCases()
	for _, c := range cases {
		dir := vitCopyFixture(t, c.family, c.edit, c.cfg)
		m, err := Load(dir, gotch.CPU, raw.Float32)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.want)
		}
		if err == nil {
			if c.name == "clip without projection" && (m.Dim() != 32 || m.proj != nil) {
				t.Errorf("%s: Dim %d, want the pooled output's 32", c.name, m.Dim())
			}
			m.Close()
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// A full CLIP folder's vision tower gives the vision model's outputs.
	dir := vitCopyFixture(t, "clip_vision", cases[8].edit, cases[8].cfg)
	m, err := Load(dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := hftest.Open(t, "clip_vision")
	a := raw.New(-1)
	defer a.Free()
	px, _ := f.Values(t, a, "pixel_values")
	out, err := m.Forward(px, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.Values(t, a, "image_embeds")
	if worst, _ := vitMaxDiff(t, "image_embeds", out.Embeds, want); worst > 1e-4 {
		t.Errorf("full CLIP folder: image_embeds differ by %.3g", worst)
	}
}
