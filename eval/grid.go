package eval

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
)

// writeGrid draws the example sheet (the paper's Figs. 12-14): one row per scene, the source
// first, then for each model its reconstruction with its caption beneath.
func writeGrid(path string, sources []images.Planar, rows []*Result) error {
	const scale, capW, lineH = 4, 200, 13
	tile := sources[0].W * scale
	cellW := max(tile, capW) + 8
	textLines := 4
	cellH := 14 + tile + textLines*lineH + 8
	W := cellW * (len(rows) + 1)
	H := cellH * len(sources)
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	face := basicfont.Face7x13
	label := func(x, y int, s string) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	for i, src := range sources {
		y0 := i * cellH
		label(4, y0+11, "source")
		draw.Draw(img, image.Rect(4, y0+14, 4+tile, y0+14+tile), src.ToRGBA(scale), image.Point{}, draw.Src)
		for j, r := range rows {
			x0 := (j + 1) * cellW
			label(x0+4, y0+11, r.Name)
			if i < len(r.Reconstructions) {
				draw.Draw(img, image.Rect(x0+4, y0+14, x0+4+tile, y0+14+tile), r.Reconstructions[i].ToRGBA(scale), image.Point{}, draw.Src)
			}
			if i < len(r.Scenes) {
				for k, line := range wrap(r.Scenes[i].Caption, capW/7, textLines) {
					label(x0+4, y0+14+tile+lineH*(k+1), line)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes())
}

// wrap splits text into at most n lines of at most width characters.
func wrap(text string, width, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > n {
		lines = append(lines[:n-1], lines[n-1]+" ...")
	}
	if len(lines) == 0 {
		lines = []string{"(empty caption)"}
	}
	return lines
}
