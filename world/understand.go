package world

import "github.com/unigrpo/unigrpo/internal/pooled"

// Understanding scores how well a caption describes its scene. Ratios whose
// denominator is zero are 0 (for example precision of an empty caption);
// average over scenes with MeanUnderstanding, which pools the counts.
//
// Predicted objects (the caption's specs, see Parse) are matched one-to-one to
// the scene's objects in two passes:
//
//  1. A spec that states a cell is matched to the scene's object in that cell,
//     if there is one and it is not matched yet (specs in caption order).
//  2. The remaining specs and objects are matched by an optimal assignment
//     (as many pairs as the smaller side has) that maximises first the number
//     of pairs without a contradiction and then the total agreement (stated
//     attributes equal minus stated attributes different). A spec whose
//     stated cell is empty or already matched thus still meets an object, and
//     its position counts as wrong.
//
// A matched pair is a correct object when none of the spec's stated
// attributes contradicts the object. Attribute accuracies count the stated
// attributes of matched specs only; specs left unmatched are false positives
// and lower precision.
type Understanding struct {
	// ObjectPrecision is the fraction of predicted objects that are correct.
	ObjectPrecision float64 `json:"object_precision"`
	// ObjectRecall is the fraction of the scene's objects that are correct.
	ObjectRecall float64 `json:"object_recall"`
	// SmallObjectRecall is ObjectRecall over the scene's small objects only.
	SmallObjectRecall float64 `json:"small_object_recall"`
	// AttributeAccuracy is the fraction of stated object attributes (size,
	// colour, shape, position) of matched specs that are right.
	AttributeAccuracy float64 `json:"attribute_accuracy"`
	// Per-kind accuracies over the same stated attributes.
	SizeAccuracy     float64 `json:"size_accuracy"`
	ColorAccuracy    float64 `json:"color_accuracy"`
	ShapeAccuracy    float64 `json:"shape_accuracy"`
	PositionAccuracy float64 `json:"position_accuracy"`
	// BackgroundAccuracy is the fraction of stated backgrounds that are right.
	BackgroundAccuracy float64 `json:"background_accuracy"`
	// Coverage is the fraction of everything there is to say (four attributes
	// per object plus the background) that the caption states correctly.
	Coverage float64 `json:"coverage"`
	// UnparsedPerCaption is the mean number of tokens the parser could not use.
	UnparsedPerCaption float64 `json:"unparsed_per_caption"`
	// Counts holds the numbers the ratios come from.
	Counts Counts `json:"counts"`
}

// Counts are the tallies behind an Understanding; they add across scenes.
type Counts struct {
	Captions         int `json:"captions"`
	Objects          int `json:"objects"`
	SmallObjects     int `json:"small_objects"`
	Predicted        int `json:"predicted"`
	Correct          int `json:"correct"`
	CorrectSmall     int `json:"correct_small"`
	SizeStated       int `json:"size_stated"`
	SizeRight        int `json:"size_right"`
	ColorStated      int `json:"color_stated"`
	ColorRight       int `json:"color_right"`
	ShapeStated      int `json:"shape_stated"`
	ShapeRight       int `json:"shape_right"`
	PositionStated   int `json:"position_stated"`
	PositionRight    int `json:"position_right"`
	BackgroundStated int `json:"background_stated"`
	BackgroundRight  int `json:"background_right"`
	Unparsed         int `json:"unparsed"`
}

// Add returns the sum of two tallies.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Captions: c.Captions + o.Captions, Objects: c.Objects + o.Objects,
		SmallObjects: c.SmallObjects + o.SmallObjects, Predicted: c.Predicted + o.Predicted,
		Correct: c.Correct + o.Correct, CorrectSmall: c.CorrectSmall + o.CorrectSmall,
		SizeStated: c.SizeStated + o.SizeStated, SizeRight: c.SizeRight + o.SizeRight,
		ColorStated: c.ColorStated + o.ColorStated, ColorRight: c.ColorRight + o.ColorRight,
		ShapeStated: c.ShapeStated + o.ShapeStated, ShapeRight: c.ShapeRight + o.ShapeRight,
		PositionStated: c.PositionStated + o.PositionStated, PositionRight: c.PositionRight + o.PositionRight,
		BackgroundStated: c.BackgroundStated + o.BackgroundStated, BackgroundRight: c.BackgroundRight + o.BackgroundRight,
		Unparsed: c.Unparsed + o.Unparsed,
	}
}

// Ratios returns the understanding metrics of the tallies as numerators and denominators, by
// their JSON keys: pooled over scenes (pooled.Values) they give the metrics of the summed
// tallies, and a bootstrap resamples them scene by scene.
func (c Counts) Ratios() map[string]pooled.Ratio {
	f := func(a, b int) pooled.Ratio { return pooled.Ratio{Num: float64(a), Den: float64(b)} }
	stated := c.SizeStated + c.ColorStated + c.ShapeStated + c.PositionStated
	right := c.SizeRight + c.ColorRight + c.ShapeRight + c.PositionRight
	return map[string]pooled.Ratio{
		"object_precision":     f(c.Correct, c.Predicted),
		"object_recall":        f(c.Correct, c.Objects),
		"small_object_recall":  f(c.CorrectSmall, c.SmallObjects),
		"attribute_accuracy":   f(right, stated),
		"size_accuracy":        f(c.SizeRight, c.SizeStated),
		"color_accuracy":       f(c.ColorRight, c.ColorStated),
		"shape_accuracy":       f(c.ShapeRight, c.ShapeStated),
		"position_accuracy":    f(c.PositionRight, c.PositionStated),
		"background_accuracy":  f(c.BackgroundRight, c.BackgroundStated),
		"coverage":             f(right+c.BackgroundRight, 4*c.Objects+c.Captions),
		"unparsed_per_caption": f(c.Unparsed, c.Captions),
	}
}

// Understanding turns tallies into ratios (Ratios, divided).
func (c Counts) Understanding() Understanding {
	r := c.Ratios()
	v := func(k string) float64 { return pooled.Value([]pooled.Ratio{r[k]}) }
	return Understanding{
		ObjectPrecision:    v("object_precision"),
		ObjectRecall:       v("object_recall"),
		SmallObjectRecall:  v("small_object_recall"),
		AttributeAccuracy:  v("attribute_accuracy"),
		SizeAccuracy:       v("size_accuracy"),
		ColorAccuracy:      v("color_accuracy"),
		ShapeAccuracy:      v("shape_accuracy"),
		PositionAccuracy:   v("position_accuracy"),
		BackgroundAccuracy: v("background_accuracy"),
		Coverage:           v("coverage"),
		UnparsedPerCaption: v("unparsed_per_caption"),
		Counts:             c,
	}
}

// MeanUnderstanding pools the counts of several scores (a micro-average: each
// object and attribute weighs the same, whatever scene it is in).
func MeanUnderstanding(us []Understanding) Understanding {
	var sum Counts
	for _, u := range us {
		sum = sum.Add(u.Counts)
	}
	return sum.Understanding()
}

// Understand scores a caption (token ids, see ParseCaption) against its scene.
func Understand(s Scene, ids []int) Understanding {
	c, unparsed := ParseCaption(ids)
	return UnderstandCaption(s, c, unparsed)
}

// UnderstandCaption scores a parsed caption; unparsed is the number of
// tokens the parser could not use.
func UnderstandCaption(s Scene, c Caption, unparsed int) Understanding {
	n := Counts{Captions: 1, Objects: len(s.Objects), Predicted: len(c.Objects), Unparsed: unparsed}
	for _, o := range s.Objects {
		if o.Size == Small {
			n.SmallObjects++
		}
	}
	if c.Background.Valid() {
		n.BackgroundStated = 1
		if c.Background == s.Background {
			n.BackgroundRight = 1
		}
	}
	for p, t := range match(s.Objects, c.Objects) {
		if t < 0 {
			continue
		}
		sp, o := c.Objects[p], s.Objects[t]
		ok := true
		tally := func(stated, right *int, known, equal bool) {
			if !known {
				return
			}
			*stated++
			if equal {
				*right++
			} else {
				ok = false
			}
		}
		tally(&n.SizeStated, &n.SizeRight, sp.Size.Valid(), sp.Size == o.Size)
		tally(&n.ColorStated, &n.ColorRight, sp.Color.Valid(), sp.Color == o.Color)
		tally(&n.ShapeStated, &n.ShapeRight, sp.Shape.Valid(), sp.Shape == o.Shape)
		tally(&n.PositionStated, &n.PositionRight, ValidCell(sp.Cell), sp.Cell == o.Cell)
		if ok {
			n.Correct++
			if o.Size == Small {
				n.CorrectSmall++
			}
		}
	}
	return n.Understanding()
}

// agreement counts the spec's stated attributes equal to the object's minus
// those that differ.
func agreement(sp Spec, o Object) int {
	score := 0
	add := func(known, equal bool) {
		switch {
		case !known:
		case equal:
			score++
		default:
			score--
		}
	}
	add(sp.Size.Valid(), sp.Size == o.Size)
	add(sp.Color.Valid(), sp.Color == o.Color)
	add(sp.Shape.Valid(), sp.Shape == o.Shape)
	add(ValidCell(sp.Cell), sp.Cell == o.Cell)
	return score
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
