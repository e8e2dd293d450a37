package trainer

import (
	"fmt"
	"math"
)

// tally collects one rank's named sums and extremes of a step, reduced over ranks with one
// collective call for the sums and one for the extremes. Every rank must add the same names in
// the same order.
//
// An extreme given again under its name folds into the one kept (max keeps the larger, min the
// smaller), so a caller adds every sample's value and gets the extreme of all of them. A sum
// given twice, or a name used as both a maximum and a minimum, is a caller's mistake that
// reduce refuses rather than report a number that means neither.
type tally struct {
	sumNames, maxNames []string
	sums, maxes        []float64
	sumAt, maxAt       map[string]int  // the index of each name
	negated            map[string]bool // minima, reduced as maxima of the negated values
	errs               []error         // mistakes found while adding, returned by reduce
}

func (t *tally) sum(name string, v float64) {
	if t.sumAt == nil {
		t.sumAt = map[string]int{}
	}
	if _, dup := t.sumAt[name]; dup {
		t.errs = append(t.errs, fmt.Errorf("metric sum %q added twice in one step", name))
		return
	}
	t.sumAt[name] = len(t.sums)
	t.sumNames, t.sums = append(t.sumNames, name), append(t.sums, v)
}

func (t *tally) max(name string, v float64) { t.extreme(name, v, false) }

func (t *tally) min(name string, v float64) { t.extreme(name, -v, true) }

// extreme folds v (negated already for a minimum) into the maximum kept under name.
func (t *tally) extreme(name string, v float64, negated bool) {
	if t.maxAt == nil {
		t.maxAt, t.negated = map[string]int{}, map[string]bool{}
	}
	if i, ok := t.maxAt[name]; ok {
		if t.negated[name] != negated {
			t.errs = append(t.errs, fmt.Errorf("metric %q added as both a minimum and a maximum", name))
			return
		}
		if v > t.maxes[i] || math.IsNaN(v) { // a NaN stays visible rather than being folded away
			t.maxes[i] = v
		}
		return
	}
	t.maxAt[name], t.negated[name] = len(t.maxes), negated
	t.maxNames, t.maxes = append(t.maxNames, name), append(t.maxes, v)
}

// reduce returns the sums, maxima and minima over all ranks, by name.
func (t *tally) reduce(d *Dist) (map[string]float64, error) {
	if len(t.errs) > 0 {
		return nil, fmt.Errorf("step metrics: %w", t.errs[0])
	}
	out := make(map[string]float64, len(t.sums)+len(t.maxes))
	if len(t.sums) > 0 {
		s, err := d.Sum(t.sums)
		if err != nil {
			return nil, err
		}
		for i, n := range t.sumNames {
			out[n] = s[i]
		}
	}
	if len(t.maxes) > 0 {
		m, err := d.Max(t.maxes)
		if err != nil {
			return nil, err
		}
		for i, n := range t.maxNames {
			if t.negated[n] {
				out[n] = -m[i]
			} else {
				out[n] = m[i]
			}
		}
	}
	return out, nil
}
