// Package pooled holds the one implementation of metrics pooled over the items of a set (scenes,
// questions, prompts): each item contributes a numerator and a denominator, and the metric of a
// set, or of a bootstrap resample of it, is the sum of the numerators over the sum of the
// denominators. A mean over items is the case of denominators 1; a micro-average (each object
// weighs the same, whatever scene it is in) is the general case.
package pooled

// Ratio is one item's share of a pooled metric.
type Ratio struct{ Num, Den float64 }

// Mean is the share of an item in a mean over items.
func Mean(x float64) Ratio { return Ratio{Num: x, Den: 1} }

// Value pools rs: the sum of the numerators over the sum of the denominators, 0 when that is 0
// (the precision of captions that predict nothing).
func Value(rs []Ratio) float64 {
	var num, den float64
	for _, r := range rs {
		num += r.Num
		den += r.Den
	}
	return div(num, den)
}

// ValueAt pools the items of rs at indices idx, an index as often as it appears (a bootstrap
// resample).
func ValueAt(rs []Ratio, idx []int) float64 {
	var num, den float64
	for _, i := range idx {
		num += rs[i].Num
		den += rs[i].Den
	}
	return div(num, den)
}

// Values pools every metric of items.
func Values(items map[string][]Ratio) map[string]float64 {
	out := make(map[string]float64, len(items))
	for k, rs := range items {
		out[k] = Value(rs)
	}
	return out
}

func div(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}
