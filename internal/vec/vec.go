// Package vec holds the one implementation of the vector arithmetic that rewards and benchmarks
// share.
package vec

import "math"

// Cosine returns the cosine similarity of a and b, accumulated in float64, or 0 when either is
// zero or their lengths differ.
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	var dot, na, nb float64
	for i, x := range a {
		y := float64(b[i])
		dot += float64(x) * y
		na += float64(x) * float64(x)
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// Mean returns the mean of xs, summed in order then divided (0 for none): the reward of a caption
// is the Mean of its per-embedder similarities.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
