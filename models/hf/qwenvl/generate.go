package qwenvl

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// stepper is the language model's decoder with the vision tower in front of its first step.
type stepper struct {
	*hf.Stepper
	m *Model
}

func (m *Model) newStepper(capacity int) stepper { return stepper{m.lm.NewStepper(capacity), m} }

// step runs a batch (the prompt first, with its images' features [M, D] made by images(a), then
// one token per row with images nil) and reads the logits and hidden state of its last position.
func (d stepper) step(in Batch, images func(a *raw.Arena) (raw.Tensor, error)) error {
	return d.prefill(in, nil, images)
}

// prefill is step whose rows serve several rows each from the next step on: row r of the cache
// is row expand[r] of in (nil: rows as they are; hf.Stepper.RunWith).
func (d stepper) prefill(in Batch, expand []int, images func(a *raw.Arena) (raw.Tensor, error)) error {
	in.Last = true
	return d.RunWith(len(in.IDs), expand, func(a *raw.Arena, cache *hf.KVCache) ([]raw.Tensor, raw.Tensor, error) {
		var feats raw.Tensor
		if images != nil {
			var err error
			if feats, err = images(a); err != nil {
				return nil, nil, err
			}
		}
		return d.m.forward(a, in, feats, cache)
	})
}

// EncodeImages runs the vision tower on pixel rows [N, C*T*P*P] (ImageProcessor's output,
// the images concatenated) of the images of grids and returns their features [M, D], M = N /
// merge^2, in float32, in the order of the images' <|image_pad|> tokens.
func (m *Model) EncodeImages(pixels []float32, grids [][3]int) ([]float32, error) {
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	row := m.cfg.Vision.Channels * m.cfg.Vision.TemporalPatch * m.cfg.Vision.Patch * m.cfg.Vision.Patch
	if len(pixels) == 0 || len(pixels)%row != 0 {
		return nil, fmt.Errorf("hf: %d pixel values are not rows of %d", len(pixels), row)
	}
	f, err := m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/row), int64(row)), grids)
	if err != nil {
		return nil, err
	}
	sh := a.Shape(f)
	out := make([]float32, sh[0]*sh[1])
	a.CopyToFloat32(a.Contiguous(a.To(f, raw.Float32)), out)
	return out, a.Err()
}

// Prompt is one row of a generation: token ids with their images' placeholders already
// expanded (ImageProcessor.ExpandPrompt), and the pixel rows and grids of its images.
type Prompt struct {
	IDs    []int
	Pixels []float32 // [N, C*T*P*P] of the row's images, concatenated
	Grids  [][3]int
}

// Generate continues each prompt greedily (ties to the lowest id, as torch.argmax), one token per
// step with a key/value cache, and returns each row's new tokens: transformers' generate() with
// do_sample=False. Rows are left-padded into one batch; new tokens continue each row's M-RoPE
// positions from its largest one + 1 on all three axes.
func (m *Model) Generate(prompts []Prompt, o hf.GenerateOptions) ([][]int, error) {
	B := len(prompts)
	if B == 0 || o.MaxNew < 1 {
		return nil, fmt.Errorf("hf: generate: %d prompts, %d new tokens", B, o.MaxNew)
	}
	T := 0
	var pixels []float32
	var grids [][3]int
	for _, p := range prompts {
		if len(p.IDs) == 0 {
			return nil, fmt.Errorf("hf: generate: an empty prompt")
		}
		T = max(T, len(p.IDs))
		pixels = append(pixels, p.Pixels...)
		grids = append(grids, p.Grids...)
	}
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	in := Batch{IDs: make([][]int, B), Mask: make([][]int, B)}
	for b, p := range prompts {
		pad := T - len(p.IDs)
		in.IDs[b] = append(make([]int, pad), p.IDs...)
		in.Mask[b] = make([]int, T)
		for t := pad; t < T; t++ {
			in.Mask[b][t] = 1
		}
	}
	pos, delta, err := m.cfg.RopeIndex(in.IDs, in.Mask, grids)
	if err != nil {
		return nil, err
	}
	in.Pos = pos
	next := make([]int, B) // each row's next position
	for b := range B {
		next[b] = T + delta[b]
	}
	dec := m.newStepper(T + o.MaxNew - 1)
	defer dec.Close()
	row := m.cfg.Vision.Channels * m.cfg.Vision.TemporalPatch * m.cfg.Vision.Patch * m.cfg.Vision.Patch
	if len(pixels)%row != 0 {
		return nil, fmt.Errorf("hf: generate: %d pixel values are not rows of %d", len(pixels), row)
	}
	var images func(a *raw.Arena) (raw.Tensor, error)
	if len(grids) > 0 {
		images = func(a *raw.Arena) (raw.Tensor, error) {
			return m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/row), int64(row)), grids)
		}
	}
	s, err := hf.NewSampler(B, o.MaxNew, policy.SampleOptions{Greedy: true}, nil, o.Stop)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	feed := make([]int, B)
	for step := 0; step < o.MaxNew; step++ {
		if err := dec.step(in, images); err != nil {
			return nil, fmt.Errorf("hf: generate step %d: %w", step, err)
		}
		images = nil
		active, err := s.Next(step, dec.Stepper, feed)
		if err != nil {
			return nil, err
		}
		if !active {
			break
		}
		for b := range B {
			in.IDs[b] = []int{feed[b]}
			for ax := range in.Pos {
				in.Pos[ax][b] = []int{next[b]}
			}
			in.Mask[b] = append(in.Mask[b], 1)
			next[b]++
		}
	}
	return s.Rollout().Tokens, nil
}
