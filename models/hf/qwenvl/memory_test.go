package qwenvl

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/procfs"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
)

// 200 rollouts (one vision pass and prefill per image expanded to its G rows, sampling on the
// device with its kept buffers, the preallocated cache) leave the resident set flat: every
// buffer and temporary is freed. Oracle: the process's VmRSS after 40 warm-up rollouts, which
// the last may exceed by at most 1.5 MiB (the tiny fixture's buffers are small: leaving the
// sampler's unfreed grows it by 3 MiB over the 160 rollouts).
func TestSampleMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	chat, err := hf.ImageChatPrompt("qwen2_5_vl", "Describe the image.")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(hftest.Dir(qwenVLFamily), gotch.CPU, raw.Float32, chat, 56, 8, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pix := rand.New(rand.NewPCG(5, 6))
	imgs := make([]images.Planar, 2)
	for i := range imgs {
		imgs[i] = images.NewPlanar(3, 56, 56)
		for j := range imgs[i].Pix {
			imgs[i].Pix[j] = pix.Float32()
		}
	}
	rss := func() int64 {
		b, err := procfs.SelfRSS()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const warm, total = 40, 200
	var base int64
	for i := range total {
		rngs := make([]*rand.Rand, 6)
		for r := range rngs {
			rngs[r] = rand.New(rand.NewPCG(uint64(i), uint64(r)))
		}
		opt := policy.SampleOptions{Temperature: 1, TopK: 5 * (i % 2)} // the full and the top-k draw
		if _, err := p.Sample(imgs, 3, opt, rngs); err != nil {
			t.Fatal(err)
		}
		if i == warm-1 {
			runtime.GC()
			base = rss()
		}
	}
	runtime.GC()
	end := rss()
	t.Logf("RSS after %d rollouts %.1f MiB, after %d %.1f MiB", warm, float64(base)/(1<<20), total, float64(end)/(1<<20))
	if end-base > 3<<19 {
		t.Fatalf("RSS grew by %.1f MiB over %d rollouts (from %.1f MiB)", float64(end-base)/(1<<20), total-warm, float64(base)/(1<<20))
	}
}
