package world

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func understandText(t *testing.T, s Scene, text string) Understanding {
	t.Helper()
	ids, err := NewVocab().Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	return Understand(s, ids)
}

func approx(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %.4f, want %.4f", what, got, want)
	}
}

func TestUnderstandHandBuilt(t *testing.T) {
	scene := Scene{Background: Gray, Objects: []Object{
		{Size: Large, Color: Red, Shape: Circle, Cell: 0},
		{Size: Small, Color: Blue, Shape: Square, Cell: 4},
		{Size: Small, Color: Green, Shape: Triangle, Cell: 8},
	}}
	u := understandText(t, scene, "large red circle top-left and blue square center and red cross on-gray")
	approx(t, "precision", u.ObjectPrecision, 2.0/3)
	approx(t, "recall", u.ObjectRecall, 2.0/3)
	approx(t, "small recall", u.SmallObjectRecall, 1.0/2)
	approx(t, "size accuracy", u.SizeAccuracy, 1)
	approx(t, "colour accuracy", u.ColorAccuracy, 2.0/3)
	approx(t, "shape accuracy", u.ShapeAccuracy, 2.0/3)
	approx(t, "position accuracy", u.PositionAccuracy, 1)
	approx(t, "attribute accuracy", u.AttributeAccuracy, 7.0/9)
	approx(t, "background accuracy", u.BackgroundAccuracy, 1)
	approx(t, "coverage", u.Coverage, 8.0/13)

	oracle := Understand(scene, Oracle(scene))
	for name, v := range map[string]float64{
		"precision": oracle.ObjectPrecision, "recall": oracle.ObjectRecall, "small recall": oracle.SmallObjectRecall,
		"attribute accuracy": oracle.AttributeAccuracy, "coverage": oracle.Coverage,
	} {
		approx(t, "oracle "+name, v, 1)
	}

	empty := Understand(scene, nil)
	approx(t, "empty recall", empty.ObjectRecall, 0)
	approx(t, "empty precision", empty.ObjectPrecision, 0)
	approx(t, "empty coverage", empty.Coverage, 0)

	// A spec whose cell is empty still meets an object; its position is wrong.
	one := Scene{Background: Black, Objects: scene.Objects[:1]}
	moved := understandText(t, one, "red circle bottom-right")
	approx(t, "moved recall", moved.ObjectRecall, 0)
	approx(t, "moved position accuracy", moved.PositionAccuracy, 0)
	approx(t, "moved colour accuracy", moved.ColorAccuracy, 1)
	approx(t, "moved coverage", moved.Coverage, 2.0/5)

	// Extra specs are false positives.
	extra := understandText(t, one, "blue square and red circle and green <pad> <pad>")
	approx(t, "extra precision", extra.ObjectPrecision, 1.0/3)
	approx(t, "extra recall", extra.ObjectRecall, 1)
	approx(t, "extra unparsed", extra.UnparsedPerCaption, 2)

	// Matching is an assignment, not a greedy pass: "circle" must go to the
	// blue circle so that "red" can take the red one.
	two := Scene{Background: Black, Objects: []Object{
		{Size: Large, Color: Red, Shape: Circle, Cell: 1},
		{Size: Large, Color: Blue, Shape: Circle, Cell: 5},
	}}
	both := understandText(t, two, "circle and red")
	approx(t, "assignment precision", both.ObjectPrecision, 1)
	approx(t, "assignment recall", both.ObjectRecall, 1)

	// A pooled mean weighs every object equally.
	mean := MeanUnderstanding([]Understanding{u, moved})
	approx(t, "pooled recall", mean.ObjectRecall, 2.0/4)
	approx(t, "pooled precision", mean.ObjectPrecision, 2.0/4)
	approx(t, "pooled coverage", mean.Coverage, (8.0+2)/(13+5))
	if mean.Counts.Captions != 2 || mean.Counts.Objects != 4 {
		t.Errorf("pooled counts %+v", mean.Counts)
	}
}

func TestUnderstandPartialCaptionsArePrecise(t *testing.T) {
	cfg := DefaultConfig()
	var us []Understanding
	for i := range 300 {
		s := cfg.Sample(rngFor(51, uint64(i)))
		u := Understand(s, Partial(s, DefaultPartialOptions(), rngFor(52, uint64(i))))
		if u.ObjectPrecision != 1 || u.AttributeAccuracy != 1 {
			t.Fatalf("scene %d: a correct partial caption scored precision %.2f, accuracy %.2f", i, u.ObjectPrecision, u.AttributeAccuracy)
		}
		us = append(us, u)
	}
	m := MeanUnderstanding(us)
	if m.ObjectRecall > 0.8 || m.Coverage > 0.6 || m.ObjectRecall < 0.3 {
		t.Errorf("partial captions: recall %.2f coverage %.2f; want well below the oracle's 1", m.ObjectRecall, m.Coverage)
	}
}

func TestUnderstandingJSON(t *testing.T) {
	b, err := json.Marshal(Understanding{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"object_recall", "object_precision", "attribute_accuracy", "small_object_recall",
		"position_accuracy", "shape_accuracy", "color_accuracy", "size_accuracy", "coverage", "counts"} {
		if !strings.Contains(string(b), `"`+key+`"`) {
			t.Errorf("JSON %s lacks %q", b, key)
		}
	}
}
