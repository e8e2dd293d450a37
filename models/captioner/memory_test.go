package captioner

import (
	"runtime"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"

	"github.com/unigrpo/unigrpo/internal/procfs"
)

// rssBytes returns the process's resident set size.
func rssBytes(t *testing.T) int64 {
	b, err := procfs.SelfRSS()
	if err != nil {
		t.Skip(err)
	}
	return b
}

// TestMemoryFlat: many GRPO-like steps (sample, teacher-forced log-probs with entropy, backward)
// and SFT-like steps leave the resident set flat: the arenas free every handle and the
// returned tensors are freed by Drop.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	cfg := tinyConfig()
	m := newModel(t, cfg, 1)
	if err := m.SetTrainable(false, true, true); err != nil {
		t.Fatal(err)
	}
	images, caps := scenes(t, cfg, 4, 1)
	const G = 4
	step := func(i int) {
		roll, err := m.Sample(images, G, SampleOptions{Temperature: 1}, rowRNGs(len(images)*G, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := m.LogProbs(images, G, roll.Tokens, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		a := raw.New(-1)
		obj := a.Keep(a.Sum(a.Add(raw.Handle(sc.LogProbs), raw.Handle(sc.Entropy))))
		if err := a.Free(); err != nil {
			t.Fatal(err)
		}
		if err := obj.Backward(); err != nil {
			t.Fatal(err)
		}
		obj.MustDrop()
		sc.Drop()
		loss, _, err := m.Loss(images, caps)
		if err != nil {
			t.Fatal(err)
		}
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
		loss.MustDrop()
	}
	const warm, total = 60, 260
	var base int64
	for i := range total {
		step(i)
		if i == warm-1 {
			runtime.GC()
			base = rssBytes(t)
		}
	}
	runtime.GC()
	end := rssBytes(t)
	growth := end - base
	t.Logf("RSS after %d steps %.1f MiB, after %d steps %.1f MiB (growth %.2f MiB)",
		warm, float64(base)/(1<<20), total, float64(end)/(1<<20), float64(growth)/(1<<20))
	if growth > base/20 {
		t.Fatalf("RSS grew by %.1f MiB over %d steps (from %.1f MiB)", float64(growth)/(1<<20), total-warm, float64(base)/(1<<20))
	}
}
