package lm

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Activation checkpointing of the text policy's log-probs (tiny Qwen2 and Llama fixtures,
// captions of different lengths, so with padding): the same log-probs bit for bit and the same
// gradients of every weight within 1e-6 of the largest. Oracle: the ordinary autograd path.
func TestTextPolicyCheckpointing(t *testing.T) {
	for _, family := range []string{"qwen2", "llama"} {
		t.Run(family, func(t *testing.T) {
			runtime.LockOSThread() // libtorch's grad mode is the thread's
			defer runtime.UnlockOSThread()
			p, err := NewTextPolicy(hftest.Dir(family), gotch.CPU, raw.Float32, []int{310, 341, 333}, []int{362},
				func([]int) string { return "" }, 8, true)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			imgs := make([]images.Planar, 2)
			tokens := [][]int{{5, 17, 300, 362}, {44, 362}, {7, 8, 9, 10, 11, 12}, {99}}
			score := func() (*policy.Scores, error) { return p.LogProbs(imgs, 2, tokens, 0.9, true) }
			worst := hftest.CheckCheckpointing(t, p.TrainableParams(), p.SetCheckpointing, score, 1e-6)
			t.Logf("largest gradient difference: %g of the largest gradient", worst)
		})
	}
}
