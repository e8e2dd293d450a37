package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// style says how a curve is drawn.
type style int

const (
	// plain draws a line (or a marker when there is a single point).
	plain style = iota
	// rawSmoothed draws the raw values as a thin light line and their EMA
	// as a thick line of the same hue.
	rawSmoothed
	// markers draws one marker per point, no line.
	markers
	// dashed draws a thin dashed line.
	dashed
)

// curve is one named series of a panel.
type curve struct {
	label string
	xys   plotter.XYs // finite points only
	style style
	color color.Color // nil: the panel's palette
}

// panel describes one plot of a figure.
type panel struct {
	title, xLabel, yLabel string
	curves                []curve
	logX, logY            bool
}

// NoData is the label drawn in a panel whose series are all missing or
// empty.
const NoData = "no data"

// empty reports whether no curve of the panel has a point.
func (p panel) empty() bool {
	for _, c := range p.curves {
		if len(c.xys) > 0 {
			return false
		}
	}
	return true
}

// build makes the gonum plot of the panel.
func (p panel) build() (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.X.Label.Text = p.xLabel
	pl.Y.Label.Text = p.yLabel
	pl.Title.TextStyle.Font.Size = vg.Points(11)
	if p.empty() {
		return pl, addNoData(pl)
	}
	if p.logX {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if p.logY {
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	pl.Add(plotter.NewGrid())
	withData := 0
	for _, c := range p.curves {
		if len(c.xys) > 0 {
			withData++
		}
	}
	for i, c := range p.curves {
		if len(c.xys) == 0 {
			continue
		}
		col := c.color
		if col == nil {
			col = plotutil.Color(i)
		}
		thumb, err := addCurve(pl, c, col)
		if err != nil {
			return nil, fmt.Errorf("panel %q, series %q: %w", p.title, c.label, err)
		}
		if withData > 1 && c.label != "" {
			pl.Legend.Add(c.label, thumb)
		}
	}
	widen(&pl.X, p.logX)
	widen(&pl.Y, p.logY)
	pl.Legend.Top = true
	pl.Legend.Left = true
	pl.Legend.TextStyle.Font.Size = vg.Points(8)
	return pl, nil
}

// widen gives an axis whose data are one value a span to draw: gonum pads such an axis by 1 on
// each side, which is lost at float precision for values as large as 1e160 (and its tick
// marker then panics), so the padding here is relative (a factor of 2 on a log axis).
func widen(a *plot.Axis, log bool) {
	if a.Min != a.Max || math.IsInf(a.Min, 0) || math.IsNaN(a.Min) {
		return
	}
	if log {
		a.Min, a.Max = a.Min/2, a.Max*2
		return
	}
	d := math.Max(1, math.Abs(a.Min)/100)
	a.Min, a.Max = a.Min-d, a.Max+d
}

// addCurve adds the plotters of c to pl and returns the one that stands
// for it in a legend.
func addCurve(pl *plot.Plot, c curve, col color.Color) (plot.Thumbnailer, error) {
	if len(c.xys) == 1 || c.style == markers {
		sc, err := plotter.NewScatter(c.xys)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = col
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(2.5)
		pl.Add(sc)
		return sc, nil
	}
	switch c.style {
	case rawSmoothed:
		raw, err := plotter.NewLine(c.xys)
		if err != nil {
			return nil, err
		}
		raw.LineStyle.Color = lighten(col, 0.6)
		raw.LineStyle.Width = vg.Points(0.75)
		sm, err := plotter.NewLine(smoothed(c.xys))
		if err != nil {
			return nil, err
		}
		sm.LineStyle.Color = col
		sm.LineStyle.Width = vg.Points(2.25)
		pl.Add(raw, sm)
		return sm, nil
	default:
		ln, err := plotter.NewLine(c.xys)
		if err != nil {
			return nil, err
		}
		ln.LineStyle.Color = col
		ln.LineStyle.Width = vg.Points(1.5)
		if c.style == dashed {
			ln.LineStyle.Width = vg.Points(1)
			ln.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		pl.Add(ln)
		return ln, nil
	}
}

// addNoData fixes the axes of an empty panel and writes NoData in its
// middle.
func addNoData(pl *plot.Plot) error {
	pl.X.Min, pl.X.Max = 0, 1
	pl.Y.Min, pl.Y.Max = 0, 1
	lb, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: 0.5, Y: 0.5}},
		Labels: []string{NoData},
	})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].XAlign = text.XCenter
		lb.TextStyle[i].YAlign = text.YCenter
		lb.TextStyle[i].Color = color.Gray{Y: 110}
		lb.TextStyle[i].Font.Size = vg.Points(12)
	}
	pl.Add(lb)
	return nil
}

// lighten blends c with white; f=0 keeps c, f=1 gives white.
func lighten(c color.Color, f float64) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 {
		x := float64(v>>8)*(1-f) + 255*f
		return uint8(x + 0.5)
	}
	return color.RGBA{R: mix(r), G: mix(g), B: mix(b), A: 255}
}
