package qwenvl

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Activation checkpointing of the Qwen2.5-VL policy's log-probs (the fixture's image and a crop
// of it: left-padded prompts, image features spliced into the embeddings, M-RoPE positions):
// the same log-probs bit for bit and the same gradients of every language-model weight within
// 1e-6 of the largest. Oracle: the ordinary autograd path.
func TestQwenVLPolicyCheckpointing(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := hftest.Dir(qwenVLFamily)
	prompt := "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in the picture?<|im_end|>\n<|im_start|>assistant\n"
	p, err := NewPolicy(dir, gotch.CPU, raw.Float32, prompt, 32, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, h, rgb := qwenVLFixtureImage(t, dir)
	crop := make([]uint8, 0, 3*20*h)
	for y := range h {
		crop = append(crop, rgb[3*y*w:3*(y*w+20)]...)
	}
	imgs := []images.Planar{images.FromRGB8(w, h, rgb), images.FromRGB8(20, h, crop)}
	tokens := [][]int{{5, 17, 300, 2}, {44}, {7, 8, 9, 10, 11, 12}, {99, 98}}
	score := func() (*policy.Scores, error) { return p.LogProbs(imgs, 2, tokens, 1, false) }
	worst := hftest.CheckCheckpointing(t, p.TrainableParams(), p.SetCheckpointing, score, 1e-6)
	t.Logf("largest gradient difference: %g of the largest gradient", worst)
}
