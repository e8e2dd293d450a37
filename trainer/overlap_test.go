package trainer

import (
	"testing"
	"time"
)

// Oracle: an exact reference computation by hand. union is the time covered by overlapping,
// nested, touching and disjoint spans, in any order.
func TestUnionOfSpans(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(a, b int) span {
		return span{t0.Add(time.Duration(a) * time.Millisecond), t0.Add(time.Duration(b) * time.Millisecond)}
	}
	for _, c := range []struct {
		spans []span
		want  int // ms
	}{
		{nil, 0},
		{[]span{at(0, 10)}, 10},
		{[]span{at(20, 30), at(0, 10)}, 20},            // disjoint, out of order
		{[]span{at(0, 10), at(5, 15)}, 15},             // overlapping
		{[]span{at(0, 30), at(5, 10), at(12, 20)}, 30}, // nested
		{[]span{at(0, 10), at(10, 20), at(25, 26)}, 21},
	} {
		if got := union(c.spans); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("union(%v) = %v, want %d ms", c.spans, got, c.want)
		}
	}
}
