package task

import (
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
)

// clipFixture is transformers' tiny CLIP vision tower (models/hf/testdata).
var clipFixture = filepath.Join("..", "..", "models", "hf", "testdata", "transformers", "clip_vision")

// A reward with a Hugging Face encoder names it as the user did (NAME=DIR) or by its family
// (hf:DIR), and its batched rewards (all of a step's images in passes of 3) equal the one-image
// path: reward.Similarities, which embeds each image alone with Embed (oracle: that earlier path
// of this project, itself checked against transformers in models/hf/vit), within 1e-5.
func TestRewardWithEncoders(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wc := world.DefaultConfig()
	names := "conv,hf:" + clipFixture + ",mine=" + clipFixture
	if !HasEncoders(names) || !HasEncoders("hf:"+clipFixture) || HasEncoders("all") || HasEncoders("conv,edge") {
		t.Error("HasEncoders does not tell Hugging Face encoders from the world's embedders")
	}
	rw, err := NewRewardWith(wc, names, vit.EmbedderOptions{MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if got := rw.Embedders(); !slices.Equal(got, []string{"conv", "clip", "mine"}) {
		t.Errorf("embedders %q, want conv, clip, mine", got)
	}
	set, err := Source{World: wc}.HeldOut(5, 3)
	if err != nil {
		t.Fatal(err)
	}
	const G = 2
	var caps []string
	for _, c := range set.Captions {
		caps = append(caps, c, "a red circle")
	}
	keys := stream.Keys(5, stream.EvalDecode, 0, 0, len(caps))
	got, parts, err := rw.Rewards(set.Images, G, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rw.Reconstruct(caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		want, wantParts := reward.Similarities(rw.es, reward.Embeddings(rw.es, set.Images[i/G]), rec)
		if d := got[i] - want; d > 1e-5 || d < -1e-5 {
			t.Errorf("row %d: batched reward %v, one image at a time %v", i, got[i], want)
		}
		for k := range wantParts {
			if d := parts[i][k] - wantParts[k]; d > 1e-5 || d < -1e-5 {
				t.Errorf("row %d, embedder %d: batched %v, one image at a time %v", i, k, parts[i][k], wantParts[k])
			}
		}
	}
	if _, err := NewRewardWith(wc, "hf:"+clipFixture, vit.EmbedderOptions{MaxBatch: -1}); err == nil {
		t.Error("a batch of -1 images was accepted")
	}
}
