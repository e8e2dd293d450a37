package plots

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestChartBars(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bars.png")
	c := Chart{Title: "all-reduce", XLabel: "size", YLabel: "GB/s", Width: 6, Height: 4}
	err := c.Bars([]string{"1 MB", "4 MB", "16 MB"}, map[string][]float64{
		"ring": {1.5, 2.5, 3}, "mpi": {4.6, 5.0, math.NaN()},
	}, path)
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path, 600, 400)
	if n := colored(img, img.Bounds()); n < 1000 {
		t.Errorf("bar chart has %d coloured pixels", n)
	}
	err = c.Bars([]string{"a", "b"}, map[string][]float64{"ring": {1}}, path)
	if err == nil || !strings.Contains(err.Error(), `"ring" has 1 values for 2 labels`) {
		t.Errorf("mismatched lengths: err = %v", err)
	}
	if err := c.Bars(nil, map[string][]float64{"x": nil}, path); err == nil {
		t.Error("no labels: want an error")
	}
	noTempFiles(t, dir)
}

func TestChartLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lines.png")
	x := []float64{0, 1 << 10, 1 << 20, 1 << 24}
	c := Chart{Title: "busbw", LogX: true}
	err := c.Lines(x, map[string][]float64{"ring": {9, 0.1, 2, math.Inf(1)}}, path)
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path, 800, 500)
	if n := colored(img, img.Bounds()); n < 100 {
		t.Errorf("line chart has %d coloured pixels", n)
	}
	// All points unusable on a log axis: an empty chart, not an error.
	if err := c.Lines([]float64{0}, map[string][]float64{"ring": {1}}, path); err != nil {
		t.Fatal(err)
	}
	img = decodePNG(t, path, 800, 500)
	if n := colored(img, img.Bounds()); n != 0 {
		t.Errorf("empty line chart has %d coloured pixels", n)
	}
	if err := c.Lines(x, map[string][]float64{"ring": {1}}, path); err == nil {
		t.Error("mismatched lengths: want an error")
	}
	if err := c.Lines(x, nil, path); err == nil {
		t.Error("no series: want an error")
	}
}
