package shape

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Model is what a folder's config files say of a model: its tensors and its decoder.
type Model struct {
	Dir     string
	Family  string  // config.json's model_type: llama, qwen2, qwen2_5_vl or janus
	Text    Decoder // the language model
	Tensors []Tensor
	images  imageTokens
}

// imageTokens says how many positions an image takes in the prompt: a fixed count (Janus), or
// Qwen2VLImageProcessor's smart_resize followed by the patch merge (Qwen2.5-VL).
type imageTokens struct {
	fixed                int
	patch, merge         int
	minPixels, maxPixels int
	vision               bool
}

// Read reads dir/config.json and, for Qwen2.5-VL, dir/preprocessor_config.json when there is
// one (Qwen2VLImageProcessor's defaults otherwise). No weight is read.
func Read(dir string) (*Model, error) {
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("shape: %w (a Hugging Face model folder has a config.json)", err)
	}
	pre, err := os.ReadFile(filepath.Join(dir, "preprocessor_config.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("shape: %w", err)
	}
	m, err := parse(js, pre)
	if err != nil {
		return nil, fmt.Errorf("shape: %s: %w", path, err)
	}
	m.Dir = dir
	return m, nil
}

func parse(js, pre []byte) (*Model, error) {
	var top struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, err
	}
	m := &Model{Family: top.ModelType}
	var l list
	var err error
	switch top.ModelType {
	case "llama", "qwen2":
		if m.Text, err = readLM(js); err != nil {
			return nil, err
		}
		decoderTensors(&l, m.Text, "model.")
	case "qwen2_5_vl":
		var v qwenVision
		if m.Text, v, err = readQwenVL(js); err != nil {
			return nil, err
		}
		decoderTensors(&l, m.Text, "model.")
		qwenVisionTensors(&l, v)
		if m.images, err = qwenImageTokens(pre, v); err != nil {
			return nil, fmt.Errorf("preprocessor_config.json: %w", err)
		}
	case "janus":
		var v janusVision
		var q janusVQ
		if m.Text, v, q, err = readJanus(js); err != nil {
			return nil, err
		}
		janusTensors(&l, m.Text.D, v, q)
		decoderTensors(&l, m.Text, "model.language_model.")
		m.images = imageTokens{fixed: v.Tokens, vision: true}
	case "multi_modality":
		return nil, fmt.Errorf("model_type multi_modality (deepseek-ai's original Janus layout) is not loaded by this project: use the transformers layout (model_type janus, as deepseek-community/Janus-Pro-7B has it)")
	case "":
		return nil, fmt.Errorf("no model_type")
	default:
		return nil, fmt.Errorf("model_type %q is not a policy family this project trains (llama, qwen2, qwen2_5_vl, janus)", top.ModelType)
	}
	m.Tensors = l.ts
	return m, nil
}

// qwenImageTokens reads Qwen2VLImageProcessor's sizes (defaults where pre is nil or leaves them
// out, as qwenvl.LoadImageProcessor does).
func qwenImageTokens(pre []byte, v qwenVision) (imageTokens, error) {
	t := imageTokens{patch: 14, merge: 2, minPixels: 56 * 56, maxPixels: 28 * 28 * 1280, vision: true}
	if pre == nil {
		// No processor file (the loader needs one; a folder sized before it is complete): the
		// vision tower's own patch and merge with the processor's default pixel bounds.
		t.patch, t.merge = v.Patch, v.Merge
		return t, nil
	}
	var j struct {
		Patch     *int               `json:"patch_size"`
		Merge     *int               `json:"merge_size"`
		MinPixels *int               `json:"min_pixels"`
		MaxPixels *int               `json:"max_pixels"`
		Size      map[string]float64 `json:"size"`
	}
	if err := json.Unmarshal(pre, &j); err != nil {
		return t, err
	}
	if v, ok := j.Size["shortest_edge"]; ok {
		t.minPixels = int(v)
	}
	if v, ok := j.Size["longest_edge"]; ok {
		t.maxPixels = int(v)
	}
	for _, f := range []struct{ dst, src *int }{{&t.patch, j.Patch}, {&t.merge, j.Merge}, {&t.minPixels, j.MinPixels}, {&t.maxPixels, j.MaxPixels}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if t.patch < 1 || t.merge < 1 || t.minPixels < 1 || t.maxPixels < t.minPixels {
		return t, fmt.Errorf("patch_size %d, merge_size %d, min_pixels %d, max_pixels %d: want positive sizes and min <= max", t.patch, t.merge, t.minPixels, t.maxPixels)
	}
	return t, nil
}

// ReadsImages reports whether the model's prompts hold an image (Qwen2.5-VL, Janus).
func (m *Model) ReadsImages() bool { return m.images.vision }

// ImageTokens is the number of prompt positions one square image of side pixels takes: Janus's
// num_image_tokens whatever the side, Qwen2.5-VL's (h/patch)(w/patch)/merge^2 after smart_resize,
// 0 for a language model.
func (m *Model) ImageTokens(side int) (int, error) {
	t := m.images
	switch {
	case !t.vision:
		return 0, nil
	case t.fixed > 0:
		return t.fixed, nil
	case side < 1:
		return 0, fmt.Errorf("shape: an image side of %d pixels", side)
	}
	f := t.patch * t.merge
	n := int(math.RoundToEven(float64(side)/float64(f))) * f // Python's round: halves to even
	switch {
	case n*n > t.maxPixels:
		beta := math.Sqrt(float64(side*side) / float64(t.maxPixels))
		n = max(f, int(math.Floor(float64(side)/beta/float64(f)))*f)
	case n*n < t.minPixels:
		beta := math.Sqrt(float64(t.minPixels) / float64(side*side))
		n = int(math.Ceil(float64(side)*beta/float64(f))) * f
	}
	g := n / t.patch
	return g * g / (t.merge * t.merge), nil
}

// TrainableParts are the parts GRPO trains with the family's policy as cmd/trainer loads it:
// the decoder of a language model and of Qwen2.5-VL (whose vision tower never trains), the
// aligner, decoder and generation head of Janus, and its vision tower with trainVision.
func (m *Model) TrainableParts(trainVision bool) []string {
	if m.Family != "janus" {
		return []string{PartLM}
	}
	parts := []string{PartAligner, PartLM, PartGen}
	if trainVision {
		parts = append(parts, PartVision)
	}
	return parts
}

// Count is the number of values of the tensors in parts (every tensor when none is named).
func (m *Model) Count(parts ...string) int64 {
	var n int64
	for _, t := range m.Tensors {
		if len(parts) == 0 || slices.Contains(parts, t.Part) {
			n += t.Numel()
		}
	}
	return n
}

// Bytes is the memory of the tensors in parts (every tensor when none is named) when the run's
// dtype takes dtypeBytes a value; the tensors kept in float32 take 4.
func (m *Model) Bytes(dtypeBytes int, parts ...string) int64 {
	var n int64
	for _, t := range m.Tensors {
		if len(parts) == 0 || slices.Contains(parts, t.Part) {
			n += t.Bytes(dtypeBytes)
		}
	}
	return n
}
