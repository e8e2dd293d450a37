package janus

import (
	"runtime"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Activation checkpointing of Janus's understanding path (ScoreText, a random model): the same
// log-probs bit for bit and the same gradients within 1e-6 of the largest, with the language
// model training alone and with the vision tower and the aligner training too (their gradients
// come through the image features spliced into the decoder's input, back-propagated after the
// recompute). Oracle: the ordinary autograd path.
func TestJanusScoreTextCheckpointing(t *testing.T) {
	dir := writeJanusPolicyFolder(t, 13)
	for _, parts := range [][]string{{"lm"}, {"vision", "aligner", "lm"}} {
		t.Run(strings.Join(parts, "+"), func(t *testing.T) {
			runtime.LockOSThread() // libtorch's grad mode is the thread's
			defer runtime.UnlockOSThread()
			p := openJanusPolicy(t, dir, parts...)
			imgs := jpImages(2, 3)
			prompt := jpPrompt(5, 6)
			tokens := [][]int{{10, 11, 12, jpEOS}, {13}, {14, 15, 16, 17, 18}, {19, jpEOS}}
			score := func() (*policy.Scores, error) { return p.ScoreText(imgs, 2, prompt, tokens, 1, true) }
			worst := hftest.CheckCheckpointing(t, p.TrainableParams(), p.SetCheckpointing, score, 1e-6)
			t.Logf("largest gradient difference: %g of the largest gradient", worst)
		})
	}
}
