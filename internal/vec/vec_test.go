package vec

import (
	"math"
	"testing"
)

// Oracle: hand-computed cosines of small vectors.
func TestCosine(t *testing.T) {
	cases := []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, 2, 3}, []float32{2, 4, 6}, 1},
		{[]float32{1, 0}, []float32{-3, 0}, -1},
		{[]float32{1, 0}, []float32{0, 5}, 0},
		{[]float32{0, 0}, []float32{1, 1}, 0},
		{[]float32{1, 1}, []float32{1, 1, 1}, 0},
		{[]float32{3, 4}, []float32{4, 3}, 24.0 / 25},
	}
	for _, tc := range cases {
		if got := Cosine(tc.a, tc.b); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("Cosine(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
