package trainer

// tally collects one rank's named sums and extremes of a step, reduced over ranks with one
// collective call for the sums and one for the extremes. Every rank must add the same names in
// the same order.
type tally struct {
	sumNames, maxNames []string
	sums, maxes        []float64
	negated            map[string]bool // minima, reduced as maxima of the negated values
}

func (t *tally) sum(name string, v float64) {
	t.sumNames, t.sums = append(t.sumNames, name), append(t.sums, v)
}

func (t *tally) max(name string, v float64) {
	t.maxNames, t.maxes = append(t.maxNames, name), append(t.maxes, v)
}

func (t *tally) min(name string, v float64) {
	if t.negated == nil {
		t.negated = map[string]bool{}
	}
	t.negated[name] = true
	t.max(name, -v)
}

// reduce returns the sums, maxima and minima over all ranks, by name.
func (t *tally) reduce(d *Dist) (map[string]float64, error) {
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
