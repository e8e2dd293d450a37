package captioner

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
)

// TestMain sets one libtorch thread.
func TestMain(m *testing.M) {
	SetThreads(1)
	os.Exit(m.Run())
}

// lockThread locks the test's goroutine to its OS thread for the rest of the test, as the
// package requires (every test runs on its own goroutine).
func lockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// tinyConfig is a small model for fast tests: 16x16 images (16 image tokens), width 32.
func tinyConfig() Config {
	c := DefaultConfig()
	c.ImageSize = 16
	c.Stem1, c.Stem2 = 8, 16
	c.VisionDim, c.VisionLayers, c.VisionHeads = 24, 1, 2
	c.Dim, c.Layers, c.Heads = 32, 2, 2
	c.MLPRatio = 2
	c.MaxLen = 12
	return c
}

// newModel returns a model of cfg on the CPU or fails the test.
func newModel(t testing.TB, cfg Config, seed uint64) *Model {
	t.Helper()
	lockThread(t)
	m, err := New(cfg, gotch.CPU, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// scenes renders n world scenes at the model's image size with their oracle captions, cut to
// fit the model's MaxLen with EOS.
func scenes(t testing.TB, cfg Config, n int, seed uint64) ([]world.Image, [][]int) {
	t.Helper()
	wc := world.DefaultConfig()
	wc.Size = cfg.ImageSize
	wc.Jitter = min(wc.Jitter, wc.MaxJitter())
	if err := wc.Validate(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	images := make([]world.Image, n)
	caps := make([][]int, n)
	for i := range n {
		s := wc.Sample(rng)
		images[i] = wc.Render(s)
		caps[i] = world.Oracle(s)
		caps[i] = caps[i][:min(len(caps[i]), cfg.MaxLen-1)]
	}
	return images, caps
}

// rowRNGs returns one generator per row, seeded by (seed, row).
func rowRNGs(n int, seed uint64) []*rand.Rand {
	r := make([]*rand.Rand, n)
	for i := range r {
		r[i] = rand.New(rand.NewPCG(seed, uint64(i)))
	}
	return r
}

// values copies a float32 tensor handle's values to Go.
func values(t testing.TB, h raw.Tensor, n int) []float32 {
	t.Helper()
	a := raw.New(-1)
	out := make([]float32, n)
	a.CopyToFloat32(h, out)
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	return out
}

// paramValues returns every parameter's values by name.
func paramValues(t testing.TB, m *Model) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range m.params {
		out[p.Name] = values(t, p.h, numel(p.Shape))
	}
	return out
}
