package plots

import (
	"math"

	"gonum.org/v1/plot/plotter"
)

// finite returns the points whose step and value are both finite, as
// plotter.XYs (plotter.NewLine rejects NaN and Inf).
func finite(pts []Point) plotter.XYs {
	xys := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		if isFinite(p.Step) && isFinite(p.Value) {
			xys = append(xys, plotter.XY{X: p.Step, Y: p.Value})
		}
	}
	return xys
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// SmoothingWindow is the effective window of the exponential moving
// average used for n points: about a twentieth of the series, at least 1.
func SmoothingWindow(n int) int {
	return max(1, n/20)
}

// EMA returns the bias-corrected exponential moving average of ys with
// smoothing factor alpha = 2/(window+1). The first output equals the
// first input; a window of 1 returns a copy of ys. All inputs must be
// finite.
func EMA(ys []float64, window int) []float64 {
	out := make([]float64, len(ys))
	if window <= 1 {
		copy(out, ys)
		return out
	}
	alpha := 2 / (float64(window) + 1)
	var acc, weight float64
	for i, y := range ys {
		acc = (1-alpha)*acc + alpha*y
		weight = (1-alpha)*weight + alpha
		out[i] = acc / weight
	}
	return out
}

// smoothed returns the EMA of the finite points xys, with the window given
// by SmoothingWindow.
func smoothed(xys plotter.XYs) plotter.XYs {
	ys := make([]float64, len(xys))
	for i, p := range xys {
		ys[i] = p.Y
	}
	sm := EMA(ys, SmoothingWindow(len(xys)))
	out := make(plotter.XYs, len(xys))
	for i, p := range xys {
		out[i] = plotter.XY{X: p.X, Y: sm[i]}
	}
	return out
}
