package task

import (
	"testing"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/embed"
)

// Oracle: the world's own token-level functions (Decoder.Decode on ids, reward.MeanReward,
// world.Understand), which the text-level seams must reproduce exactly.
func TestTextSeamsMatchTheWorld(t *testing.T) {
	wc := world.DefaultConfig()
	src := Source{World: wc}
	set, err := src.HeldOut(3, 6)
	if err != nil || len(set.Images) != 6 || len(set.Labels) != 6 || len(set.Captions) != 6 {
		t.Fatalf("held-out set: %+v, %v", set, err)
	}
	rw, err := NewReward(wc, "all")
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := world.NewDecoder(wc)
	es, _ := embed.All(wc)
	vocab := world.NewVocab()
	keys := stream.Keys(3, stream.EvalDecode, 0, 0, 6)
	got, parts, err := rw.Rewards(set.Images, 1, set.Captions, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range set.Labels {
		ids := world.Oracle(l.(world.Scene))
		want := reward.MeanReward(es, set.Images[i], dec.Decode(ids, keys[i].RNG()))
		if got[i] != want || len(parts[i]) != 3 {
			t.Errorf("scene %d: reward %v of text, %v of ids", i, got[i], want)
		}
		if set.Captions[i] != vocab.Decode(ids) {
			t.Errorf("scene %d: reference %q", i, set.Captions[i])
		}
	}
	u, err := Judge{}.Judge(set.Labels, set.Captions)
	if err != nil || u["object_recall"] != 1 || u["unparsed_per_caption"] != 0 {
		t.Fatalf("oracle captions judged %v, %v", u, err)
	}
	noisy := append([]string(nil), set.Captions...)
	noisy[0] = "a photo of " + noisy[0]
	if u, _ := (Judge{}).Judge(set.Labels, noisy); u["unparsed_per_caption"] != 3.0/6 {
		t.Errorf("3 unknown words in 6 captions: unparsed per caption %v", u["unparsed_per_caption"])
	}
	if _, _, err := rw.Rewards(set.Images, 2, set.Captions, keys); err == nil {
		t.Error("6 captions for 6 images x G=2 accepted")
	}
}
