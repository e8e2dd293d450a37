package plots

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
)

// DPI is the resolution of every PNG this package writes: a figure of
// w×h inches is (w·DPI)×(h·DPI) pixels.
const DPI = 100

// grid draws panels in rows×cols tiles (row-major; a nil entry leaves its
// tile blank) on a canvas of w×h and writes it as a PNG to path.
func grid(panels []*panel, rows, cols int, w, h vg.Length, path string) error {
	if len(panels) > rows*cols {
		return fmt.Errorf("plots: %d panels do not fit %dx%d tiles", len(panels), rows, cols)
	}
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
		for c := range plots[r] {
			i := r*cols + c
			if i >= len(panels) || panels[i] == nil {
				continue
			}
			pl, err := panels[i].build()
			if err != nil {
				return fmt.Errorf("plots: %s: %w", filepath.Base(path), err)
			}
			plots[r][c] = pl
		}
	}
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
	dc := draw.New(img)
	tiles := draw.Tiles{
		Rows: rows, Cols: cols,
		PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(10),
		PadX: vg.Points(18), PadY: vg.Points(14),
	}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c, pl := range plots[r] {
			if pl != nil {
				pl.Draw(canvases[r][c])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plots: encode %s: %w", filepath.Base(path), err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes data atomically to path, creating its folder if needed.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plots: create output directory: %w", err)
	}
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return nil
}
