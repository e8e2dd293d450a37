package images

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	} else {
		err = png.Encode(f, img)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// halves is a w x h image, red on the left half and blue on the right.
func halves(w, h int) image.Image {
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{200, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 200, 255}
			}
			im.SetRGBA(x, y, c)
		}
	}
	return im
}

func TestListFolder(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "b.png"), halves(4, 4))
	writePNG(t, filepath.Join(dir, "a.jpg"), halves(4, 4))
	writePNG(t, filepath.Join(dir, "sub", "c.PNG"), halves(4, 4))
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it.Name)
	}
	if got := strings.Join(names, ","); got != "a.jpg,b.png,sub/c.PNG" {
		t.Fatalf("names %s, want a.jpg,b.png,sub/c.PNG (sorted, recursive, images only)", got)
	}
	if _, err := List(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no .png") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestListManifest(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "img", "x.png"), halves(4, 4))
	writePNG(t, filepath.Join(dir, "y.png"), halves(4, 4))
	man := filepath.Join(dir, "set.jsonl")
	write := func(text string) {
		if err := os.WriteFile(man, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"image": "img/x.png", "caption": "a red and blue square"}` + "\n\n" + `{"image": "y.png"}` + "\n")
	items, err := List(man)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Name != "img/x.png" || items[0].Caption != "a red and blue square" ||
		items[1].Path != filepath.Join(dir, "y.png") {
		t.Fatalf("items %+v", items)
	}
	for _, c := range []struct{ text, want string }{
		{`{"caption": "no image"}`, `line 1 has no "image"`},
		{`{"image": "y.png"}` + "\n" + `{"image": "gone.png"}`, "line 2: " + filepath.Join(dir, "gone.png") + " does not exist"},
		{`not json`, "line 1 is not a JSON object"},
		{`{"image": "y.png"}` + "\n" + `{"image": "./y.png"}`, "line 2 names y.png again (first on line 1)"},
		{"\n\n", "lists no image"},
	} {
		write(c.text)
		if _, err := List(man); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("manifest %q: error %v, want one containing %q", c.text, err, c.want)
		}
	}
}

// The split depends on each name alone: adding files never moves one across, and the share is
// about right.
func TestSplitStable(t *testing.T) {
	var items []Item
	for i := range 2000 {
		items = append(items, Item{Name: fmt.Sprintf("img%04d.png", i)})
	}
	train, held, err := Split(items[:1000], 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(held); n < 70 || n > 130 {
		t.Errorf("%d of 1000 held out at share 0.1", n)
	}
	_, held2, err := Split(items, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	inHeld2 := map[string]bool{}
	for _, it := range held2 {
		inHeld2[it.Name] = true
	}
	for _, it := range held {
		if !inHeld2[it.Name] {
			t.Fatalf("%s left the held-out set when files were added", it.Name)
		}
	}
	for _, it := range train {
		if inHeld2[it.Name] {
			t.Fatalf("%s moved into the held-out set when files were added", it.Name)
		}
	}
	if _, _, err := Split(items, 1); err == nil {
		t.Error("share 1 accepted")
	}
}

// Load scales the shorter side and keeps the centre: a 40x20 image of two halves becomes a
// 10x10 square whose left part is red and right part blue. A corrupt file is an error naming it.
func TestLoadFitsAndNamesBadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wide.png")
	writePNG(t, p, halves(40, 20))
	sq, err := Load(p, 10)
	if err != nil {
		t.Fatal(err)
	}
	if sq.Size != 10 || len(sq.RGB) != 300 {
		t.Fatalf("size %d with %d bytes", sq.Size, len(sq.RGB))
	}
	if r, _, b := sq.At(1, 5); r < 180 || b > 20 {
		t.Errorf("left of the centre crop is (%d, _, %d), want red", r, b)
	}
	if r, _, b := sq.At(8, 5); b < 180 || r > 20 {
		t.Errorf("right of the centre crop is (%d, _, %d), want blue", r, b)
	}
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, 10); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt file: %v", err)
	}
}

// WebP decodes to the same pixels as the PNG of the same pattern. Oracle: Pillow 9.4.0 wrote both
// files (testdata/README); at the image's own height nothing is resampled, only the centre kept.
func TestLoadWebPMatchesPillowPNG(t *testing.T) {
	w, err := Load("testdata/pattern.webp", 6)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load("testdata/pattern.png", 6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.RGB {
		if w.RGB[i] != p.RGB[i] {
			t.Fatalf("byte %d: WebP %d, PNG %d", i, w.RGB[i], p.RGB[i])
		}
	}
	// Column 1 of the crop is column 2 of the 8x6 pattern (30*x, 40*y, 7*x*y mod 256); column 5
	// (pattern column 6) is half transparent, and its colour is kept.
	if r, g, b := p.At(1, 3); r != 60 || g != 120 || b != 42 {
		t.Errorf("pixel (1,3) = %d,%d,%d, want 60,120,42", r, g, b)
	}
	if r, g, b := p.At(5, 5); r != 180 || g != 200 || b != 210 {
		t.Errorf("pixel (5,5) = %d,%d,%d, want 180,200,210 (colour under alpha 128 kept)", r, g, b)
	}
}
