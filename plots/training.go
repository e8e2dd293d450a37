package plots

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot/vg"
)

// File names written by TrainingDynamics.
const (
	DynamicsFile = "training_dynamics.png"
	SheetFile    = "training_sheet.png"
)

// Figure sizes in inches (pixels are inches × DPI).
const (
	dynamicsW, dynamicsH = 10, 4
	sheetTileW           = 3.4
	sheetTileH           = 2.6
	sheetCols            = 3
)

// sheetPanel is one diagnostic panel of the training sheet: the metric keys
// it draws and whether it is drawn even when none of them is present.
type sheetPanel struct {
	title  string
	keys   []string
	always bool
}

// sheetPanels lists the training sheet in drawing order.
var sheetPanels = []sheetPanel{
	{title: "KL to reference (k3)", keys: []string{"kl", "draw_kl"}, always: true},
	{title: "Policy entropy", keys: []string{"entropy", "draw_entropy"}, always: true},
	{title: "Loss", keys: []string{"loss"}, always: true},
	{title: "Gradient norm (before clipping)", keys: []string{"grad_norm"}, always: true},
	{title: "Clip fraction", keys: []string{"clip_low", "clip_high", "clip_frac"}, always: true},
	{title: "Learning rate", keys: []string{"lr"}},
	{title: "Reward std", keys: []string{"reward_std"}},
	{title: "Fraction of zero-std groups", keys: []string{"frac_zero_std"}},
}

// TrainingDynamics writes two figures into outDir (created if needed):
//
//   - DynamicsFile: mean reward and mean caption length against step, raw
//     values as a thin light line and their EMA (see SmoothingWindow) as a
//     thick line, with held-out evaluation values (eval_reward_mean or
//     eval_reward; eval_length_mean or eval_length) as markers, as in the paper's Fig. 8;
//   - SheetFile: a grid of small panels for kl, entropy, loss, grad_norm and
//     the clip fractions (clip_low, clip_high, clip_frac), plus lr,
//     reward_std and frac_zero_std when present; a joint run's draw_kl and
//     draw_entropy (the drawn image codes') join the kl and entropy panels.
//
// A missing series gives a panel labelled NoData; it is not an error.
func TrainingDynamics(m *Metrics, outDir string) error {
	if err := writeDynamics(m, filepath.Join(outDir, DynamicsFile)); err != nil {
		return err
	}
	return writeSheet(m, filepath.Join(outDir, SheetFile))
}

func writeDynamics(m *Metrics, path string) error {
	reward := &panel{
		title: "Reward (cosine similarity of reconstruction)", xLabel: "step", yLabel: "reward",
		curves: []curve{
			{label: "train (raw, EMA)", xys: finite(m.Series("reward_mean")), style: rawSmoothed},
			{label: "held-out eval", xys: finite(firstSeries(m, "eval_reward_mean", "eval_reward")), style: markers},
		},
	}
	length := &panel{
		title: "Caption length (words, EOS excluded)", xLabel: "step", yLabel: "mean length",
		curves: []curve{
			{label: "train (raw, EMA)", xys: finite(m.Series("length_mean")), style: rawSmoothed},
			{label: "held-out eval", xys: finite(firstSeries(m, "eval_length_mean", "eval_length")), style: markers},
		},
	}
	return grid([]*panel{reward, length}, 1, 2, dynamicsW*vg.Inch, dynamicsH*vg.Inch, path)
}

// SheetSize returns the pixel size of the training sheet drawn for m.
func SheetSize(m *Metrics) (w, h int) {
	rows := (len(sheetFor(m)) + sheetCols - 1) / sheetCols
	return int(sheetCols * sheetTileW * DPI), int(float64(rows) * sheetTileH * DPI)
}

func sheetFor(m *Metrics) []*panel {
	var panels []*panel
	for _, sp := range sheetPanels {
		p := &panel{title: sp.title, xLabel: "step"}
		present := false
		for _, k := range sp.keys {
			s := m.Series(k)
			present = present || len(s) > 0
			if len(s) == 0 && len(sp.keys) > 1 {
				continue
			}
			p.curves = append(p.curves, curve{label: k, xys: finite(s), style: rawSmoothed})
		}
		if !present && !sp.always {
			continue
		}
		if sp.keys[0] == "lr" {
			p.curves[0].style = plain
		}
		panels = append(panels, p)
	}
	return panels
}

func writeSheet(m *Metrics, path string) error {
	panels := sheetFor(m)
	rows := (len(panels) + sheetCols - 1) / sheetCols
	w := vg.Length(sheetCols*sheetTileW) * vg.Inch
	h := vg.Length(float64(rows)*sheetTileH) * vg.Inch
	if err := grid(panels, rows, sheetCols, w, h, path); err != nil {
		return fmt.Errorf("training sheet: %w", err)
	}
	return nil
}

// firstSeries returns the first of the named series that has points.
func firstSeries(m *Metrics, names ...string) []Point {
	for _, n := range names {
		if s := m.Series(n); len(s) > 0 {
			return s
		}
	}
	return nil
}
