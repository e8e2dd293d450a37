package plots

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodePNG opens a PNG and checks its size.
func decodePNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %dx%d, want %dx%d", filepath.Base(path), b.Dx(), b.Dy(), w, h)
	}
	return img
}

// colored counts the saturated pixels of img inside r: axes, text and the
// "no data" label are grey, data lines are drawn in colour.
func colored(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			hi := max(cr, cg, cb) >> 8
			lo := min(cr, cg, cb) >> 8
			if hi-lo > 40 {
				n++
			}
		}
	}
	return n
}

// noTempFiles fails if an atomic write left a temporary file behind.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func synthetic(n int, keys ...string) *Metrics {
	m := NewMetrics()
	for i := range n {
		s := float64(i + 1)
		for j, k := range keys {
			m.Add(k, s, 0.3+0.001*s+0.05*math.Sin(s*float64(j+1)))
		}
	}
	return m
}

var allTrainingKeys = []string{"reward_mean", "length_mean", "kl", "entropy", "loss", "grad_norm",
	"clip_low", "clip_high", "lr", "reward_std", "frac_zero_std"}

func TestTrainingDynamicsFull(t *testing.T) {
	dir := t.TempDir()
	m := synthetic(300, allTrainingKeys...)
	for s := 20.0; s <= 300; s += 20 {
		m.Add("eval_reward_mean", s, 0.4)
	}
	if err := TrainingDynamics(m, dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DynamicsFile), dynamicsW*DPI, dynamicsH*DPI)
	half := img.Bounds().Dx() / 2
	left := image.Rect(0, 0, half, img.Bounds().Dy())
	right := image.Rect(half, 0, img.Bounds().Dx(), img.Bounds().Dy())
	if n := colored(img, left); n < 500 {
		t.Errorf("reward panel has %d coloured pixels; the curves were not drawn", n)
	}
	if n := colored(img, right); n < 500 {
		t.Errorf("length panel has %d coloured pixels; the curves were not drawn", n)
	}
	w, h := SheetSize(m)
	if w != 1020 || h != 780 {
		t.Errorf("SheetSize = %dx%d, want 1020x780 (3x3 tiles for 8 panels)", w, h)
	}
	sheet := decodePNG(t, filepath.Join(dir, SheetFile), w, h)
	// Every one of the 8 tiles holds a curve; the ninth is blank.
	tw, th := w/3, h/3
	for i := range 9 {
		r := image.Rect((i%3)*tw, (i/3)*th, (i%3+1)*tw, (i/3+1)*th)
		n := colored(sheet, r)
		if i < 8 && n < 100 {
			t.Errorf("sheet tile %d has %d coloured pixels, want a curve", i, n)
		}
		if i == 8 && n != 0 {
			t.Errorf("blank sheet tile has %d coloured pixels", n)
		}
	}
	noTempFiles(t, dir)
}

func TestTrainingDynamicsMissingAndBadSeries(t *testing.T) {
	dir := t.TempDir()
	m := synthetic(50, "reward_mean")
	nan := math.NaN()
	m.Add("length_mean", 1, nan)
	m.Add("length_mean", 2, math.Inf(1))
	m.Add("kl", 1, 0.5) // a single point must still show
	if err := TrainingDynamics(m, dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DynamicsFile), dynamicsW*DPI, dynamicsH*DPI)
	half := img.Bounds().Dx() / 2
	if n := colored(img, image.Rect(0, 0, half, img.Bounds().Dy())); n < 200 {
		t.Errorf("reward panel has %d coloured pixels", n)
	}
	if n := colored(img, image.Rect(half, 0, img.Bounds().Dx(), img.Bounds().Dy())); n != 0 {
		t.Errorf("length panel (NaN/Inf only) has %d coloured pixels, want an empty panel", n)
	}
	// Only the five always-drawn panels: 2 rows.
	w, h := SheetSize(m)
	if h != 2*sheetTileH*DPI {
		t.Errorf("sheet height %d, want two rows", h)
	}
	sheet := decodePNG(t, filepath.Join(dir, SheetFile), w, h)
	if n := colored(sheet, image.Rect(0, 0, w/3, h/2)); n == 0 {
		t.Error("single kl point was not drawn")
	}
	if n := colored(sheet, image.Rect(w/3, 0, w, h)); n != 0 {
		t.Errorf("panels without data have %d coloured pixels", n)
	}
}

func TestTrainingDynamicsEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots", "nested")
	m, err := ReadMetrics(writeTemp(t, "m.jsonl", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := TrainingDynamics(m, dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DynamicsFile), dynamicsW*DPI, dynamicsH*DPI)
	if n := colored(img, img.Bounds()); n != 0 {
		t.Errorf("empty metrics drew %d coloured pixels", n)
	}
	// A nil *Metrics behaves as an empty one.
	if err := TrainingDynamics(nil, dir); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileAtomicBadDir(t *testing.T) {
	file := writeTemp(t, "a-file", "x")
	err := TrainingDynamics(NewMetrics(), filepath.Join(file, "sub"))
	if err == nil {
		t.Fatal("writing under a regular file succeeded")
	}
	if !strings.Contains(err.Error(), "a-file") {
		t.Errorf("error %q does not name the path", err)
	}
}

// The trainer writes held-out values as eval_reward and eval_length: they
// are drawn as markers even without the training series.
func TestTrainingDynamicsEvalOnly(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics()
	for s := 10.0; s <= 100; s += 10 {
		m.Add("eval_reward", s, 0.5+s/1000)
		m.Add("eval_length", s, 10+s/10)
	}
	if err := TrainingDynamics(m, dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DynamicsFile), dynamicsW*DPI, dynamicsH*DPI)
	half := img.Bounds().Dx() / 2
	for i, r := range []image.Rectangle{image.Rect(0, 0, half, img.Bounds().Dy()), image.Rect(half, 0, img.Bounds().Dx(), img.Bounds().Dy())} {
		if n := colored(img, r); n < 50 {
			t.Errorf("panel %d: %d coloured pixels, want the eval markers", i, n)
		}
	}
}
