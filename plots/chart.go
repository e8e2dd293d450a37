package plots

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart describes a single-panel chart for benchmark reports. Width and
// Height are in inches; zero means 8×5.
type Chart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Width, Height         float64
}

func (c Chart) size() (vg.Length, vg.Length) {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 8
	}
	if h <= 0 {
		h = 5
	}
	return vg.Length(w) * vg.Inch, vg.Length(h) * vg.Inch
}

// Lines writes a line chart to path: one line per series (in name order),
// series[name][i] plotted at x[i]. Non-finite points, and non-positive ones
// on a log axis, are skipped. Every series must have len(x) values.
func (c Chart) Lines(x []float64, series map[string][]float64, path string) error {
	if len(series) == 0 {
		return errors.New("plots: line chart: no series given")
	}
	p := &panel{title: c.Title, xLabel: c.XLabel, yLabel: c.YLabel, logX: c.LogX, logY: c.LogY}
	for _, name := range sortedKeys(series) {
		ys := series[name]
		if len(ys) != len(x) {
			return fmt.Errorf("plots: line chart %q: series %q has %d values for %d x positions", c.Title, name, len(ys), len(x))
		}
		pts := make([]Point, 0, len(ys))
		for i, y := range ys {
			if (c.LogX && x[i] <= 0) || (c.LogY && y <= 0) {
				continue
			}
			pts = append(pts, Point{Step: x[i], Value: y})
		}
		p.curves = append(p.curves, curve{label: name, xys: finite(pts)})
	}
	if p.empty() {
		p.logX, p.logY = false, false
	}
	w, h := c.size()
	return grid([]*panel{p}, 1, 1, w, h, path)
}

// Bars writes a grouped bar chart to path: one group per label, one bar
// per series (in name order) inside each group. Every series must have
// len(labels) values; a non-finite value draws no bar.
func (c Chart) Bars(labels []string, series map[string][]float64, path string) error {
	if len(labels) == 0 || len(series) == 0 {
		return fmt.Errorf("plots: bar chart %q: need at least one label and one series (got %d, %d)", c.Title, len(labels), len(series))
	}
	names := sortedKeys(series)
	pl := plot.New()
	pl.Title.Text = c.Title
	pl.X.Label.Text = c.XLabel
	pl.Y.Label.Text = c.YLabel
	pl.Add(plotter.NewGrid())
	w, h := c.size()
	barW := w / vg.Length(2*len(labels)*len(names)+2)
	barW = min(barW, vg.Points(28))
	for i, name := range names {
		vals := series[name]
		if len(vals) != len(labels) {
			return fmt.Errorf("plots: bar chart %q: series %q has %d values for %d labels", c.Title, name, len(vals), len(labels))
		}
		clean := make(plotter.Values, len(vals))
		for j, v := range vals {
			if isFinite(v) {
				clean[j] = v
			}
		}
		bc, err := plotter.NewBarChart(clean, barW)
		if err != nil {
			return fmt.Errorf("plots: bar chart %q, series %q: %w", c.Title, name, err)
		}
		bc.Color = plotutil.Color(i)
		bc.LineStyle.Width = 0
		bc.Offset = vg.Length(float64(i)-float64(len(names)-1)/2) * barW
		pl.Add(bc)
		if len(names) > 1 {
			pl.Legend.Add(name, bc)
		}
	}
	pl.Legend.Top = true
	pl.NominalX(labels...)
	// Room for the outer bars of the first and last groups.
	pl.X.Min, pl.X.Max = -0.5, float64(len(labels))-0.5
	// Headroom above the tallest bar for the legend.
	pl.Y.Max *= 1.15
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
	pl.Draw(draw.New(img))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plots: encode %s: %w", filepath.Base(path), err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func sortedKeys(m map[string][]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
