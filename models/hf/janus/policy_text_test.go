package janus

import (
	"math"
	"reflect"
	"runtime"
	"testing"

	"github.com/unigrpo/unigrpo/models/policy"
)

// Sampled vs teacher-forced: the log-probs SampleText and Continue record (key/value cache, left
// padding, features entering at the first step) equal ScoreText's of the same tokens (no cache,
// one prompt per call). Greedy sampling is repeatable and rows of one image agree. (Oracle: the
// model's two code paths.)
func TestJanusPolicySampledMatchesScored(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 11), "lm", "gen")
	imgs := jpImages(2, 1)
	prompt := jpPrompt(5)
	roll, err := p.SampleText(imgs, 2, prompt, 6, []int{jpEOS}, policy.SampleOptions{Temperature: 0.8, MinLen: 2}, jpRngs(4, 5))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.ScoreText(imgs, 2, prompt, roll.Tokens, 0.8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	compareLogProbs(t, "SampleText", roll.LogProbs, scoreRows(t, sc, roll.Tokens))
	for r := range roll.Tokens {
		if roll.Lengths[r] < 2 || len(roll.Hidden[r]) != 64 {
			t.Errorf("row %d: %d tokens, hidden of %d", r, roll.Lengths[r], len(roll.Hidden[r]))
		}
	}

	// Continue: prompts of different lengths, each with its own image.
	prompts := [][]int{jpPrompt(5, 6, 7, 8), jpPrompt(9)}
	cont, err := p.Continue(imgs, prompts, 5, []int{jpEOS}, policy.SampleOptions{Temperature: 1}, jpRngs(2, 8))
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		sc, err := p.ScoreText(imgs[i:i+1], 1, prompts[i], cont.Tokens[i:i+1], 1, false)
		if err != nil {
			t.Fatal(err)
		}
		compareLogProbs(t, "Continue", cont.LogProbs[i:i+1], scoreRows(t, sc, cont.Tokens[i:i+1]))
		sc.Drop()
	}

	// Greedy: twice the same, and the G rows of an image alike.
	greedy := func() [][]int {
		r, err := p.SampleText(imgs, 2, prompt, 5, []int{jpEOS}, policy.SampleOptions{Greedy: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Tokens
	}
	g1, g2 := greedy(), greedy()
	if !reflect.DeepEqual(g1, g2) || !reflect.DeepEqual(g1[0], g1[1]) || !reflect.DeepEqual(g1[2], g1[3]) {
		t.Errorf("greedy captions %v then %v", g1, g2)
	}
}

// A caption may hold the image token (the policy can sample it): ScoreText scores it as text,
// as sampling read it, and the tokens before it as the caption cut before it. (Oracle:
// causality; models/hf/qwenvl's test of the same case.)
func TestJanusPolicyCaptionWithImageToken(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 18))
	imgs := jpImages(1, 9)
	tokens := [][]int{{5, jpImage, 6, jpEOS}, {5}}
	sc, err := p.ScoreText(imgs, 2, jpPrompt(4), tokens, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	got := scoreRows(t, sc, tokens)
	if math.Abs(float64(got[0][0]-got[1][0])) > 1e-5 { // rows padded to other lengths: float sums differ
		t.Errorf("the first token's log-prob %v, %v when the caption ends there", got[0][0], got[1][0])
	}
	for i, v := range got[0] {
		if !(v < 0) {
			t.Errorf("log-prob %d of the caption is %v", i, v)
		}
	}
}

// jpRows are a text row of each image (prompts of different lengths) and two code rows (a
// caption, and the unconditional form of an empty one).
