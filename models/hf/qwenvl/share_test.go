package qwenvl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// A KL reference that shares the policy's frozen vision tower scores captions exactly as one
// that loads its own copy, holds no vision weights of its own, and leaves the policy whole when
// it is closed first. Oracle: the reference loaded on its own (itself checked against
// transformers in TestQwenVLPolicy).
func TestReferenceSharesVisionTower(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := hftest.Dir(qwenVLFamily)
	var exp qwenVLExpected
	js, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &exp); err != nil {
		t.Fatal(err)
	}
	pol, err := NewPolicy(dir, gotch.CPU, raw.Float32, exp.Inputs.Prompt, 64, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pol.Close()
	own, err := NewPolicy(dir, gotch.CPU, raw.Float32, exp.Inputs.Prompt, 64, 6, false)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	shared, err := NewFrozenSharingVision(dir, gotch.CPU, raw.Float32, exp.Inputs.Prompt, 64, 6, pol)
	if err != nil {
		t.Fatal(err)
	}
	if shared.Model.vision.patch != pol.Model.vision.patch {
		t.Fatalf("the sharing reference has a vision tower of its own")
	}
	if saved := own.Model.lm.Arena().Len() - shared.Model.lm.Arena().Len(); saved < len(own.Model.vision.named) {
		t.Errorf("the sharing reference's arena holds %d tensors fewer than its own copy, less than the %d weights of the tower", saved, len(own.Model.vision.named))
	}
	w, h, rgb := qwenVLFixtureImage(t, dir)
	imgs := []images.Planar{images.FromRGB8(w, h, rgb)}
	roll, err := pol.Sample(imgs, 2, policy.SampleOptions{Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	score := func(p *Policy) []float32 {
		sc, err := p.LogProbs(imgs, 2, roll.Tokens, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Drop()
		out := make([]float32, 2*sc.T)
		if err := sc.LogProbs.CopyData(out, uint(len(out))); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := score(own), score(shared)
	if !slices.Equal(a, b) {
		t.Errorf("log-probs under the sharing reference %v, its own copy %v", b, a)
	}
	shared.Close()
	if c := score(pol); len(c) != len(a) {
		t.Fatalf("the policy after its reference closed scores %d values", len(c))
	}
}
