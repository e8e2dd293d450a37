package lm

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/procfs"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := procfs.SelfRSS()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Many GRPO-like steps of the text policy (sample with the cache, teacher-forced log-probs with
// entropy, backward) leave the resident set flat: every temporary is freed.
func TestTextPolicyMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := NewTextPolicy(hftest.Dir("qwen2"), gotch.CPU, raw.Float32,
		[]int{310, 341, 333}, []int{362}, func([]int) string { return "" }, 12, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	imgs := make([]images.Planar, 2)
	step := func(i int) {
		rngs := make([]*rand.Rand, 8)
		for r := range rngs {
			rngs[r] = rand.New(rand.NewPCG(uint64(i), uint64(r)))
		}
		roll, err := p.Sample(imgs, 4, policy.SampleOptions{Temperature: 1}, rngs)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := p.LogProbs(imgs, 4, roll.Tokens, 1, true)
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
		for _, prm := range p.TrainableParams() {
			g := prm.Tensor.MustGrad(false)
			g.MustZero_()
			g.MustDrop()
		}
	}
	const warm, total = 40, 200
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
	t.Logf("RSS after %d steps %.1f MiB, after %d steps %.1f MiB", warm, float64(base)/(1<<20), total, float64(end)/(1<<20))
	if end-base > base/20 {
		t.Fatalf("RSS grew by %.1f MiB over %d steps (from %.1f MiB)", float64(end-base)/(1<<20), total-warm, float64(base)/(1<<20))
	}
}
