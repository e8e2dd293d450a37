package task

import (
	"math"
	"testing"

	"github.com/unigrpo/unigrpo/internal/pooled"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/world"
)

// Each scene's items pool to the set's understanding: JudgeItems pooled over the scenes equals
// world.MeanUnderstanding of the same captions, which sums the tallies first (oracle: the
// micro-average's definition), on partial captions of 60 held-out scenes.
func TestJudgeItemsPoolToTheMicroAverage(t *testing.T) {
	wc := world.DefaultConfig()
	set, err := Source{World: wc}.HeldOut(4, 60)
	if err != nil {
		t.Fatal(err)
	}
	vocab := world.NewVocab()
	caps := make([]string, len(set.Labels))
	var us []world.Understanding
	for i, l := range set.Labels {
		ids := world.Partial(l.(world.Scene), world.DefaultPartialOptions(), stream.RNG(4, stream.Caption, 0, i))
		caps[i] = vocab.Decode(ids)
		us = append(us, world.Understand(l.(world.Scene), ids))
	}
	items, err := Judge{}.JudgeItems(set.Labels, caps)
	if err != nil {
		t.Fatal(err)
	}
	m := world.MeanUnderstanding(us)
	want := map[string]float64{"object_precision": m.ObjectPrecision, "object_recall": m.ObjectRecall,
		"small_object_recall": m.SmallObjectRecall, "attribute_accuracy": m.AttributeAccuracy,
		"position_accuracy": m.PositionAccuracy, "coverage": m.Coverage, "background_accuracy": m.BackgroundAccuracy}
	for k, v := range want {
		if len(items[k]) != 60 || math.Abs(pooled.Value(items[k])-v) > 1e-12 {
			t.Errorf("%s: %d items pooling to %v, micro-average %v", k, len(items[k]), pooled.Value(items[k]), v)
		}
	}
	if !(m.ObjectRecall > 0 && m.ObjectRecall < 1) {
		t.Fatalf("partial captions should recall some objects, not all: %v", m.ObjectRecall)
	}
}
