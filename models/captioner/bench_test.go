package captioner

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
)

// The benchmarks use the default model, B = 8 images x G = 8 samples and one libtorch thread
// (set in TestMain), the GRPO setting of the project's PyTorch reference (0.19-0.26 s per GRPO
// step, about half of it sampling).

const benchB, benchG, benchLen = 8, 8, 12

// benchSetup returns the default model with a frozen vision encoder (as in GRPO), 8 scenes and
// 64 captions of benchLen tokens ending with EOS.
func benchSetup(b *testing.B) (*Model, []world.Image, [][]int) {
	cfg := DefaultConfig()
	m := newModel(b, cfg, 1)
	if err := m.SetTrainable(false, true, true); err != nil {
		b.Fatal(err)
	}
	images, caps := scenes(b, cfg, benchB, 3)
	tokens := make([][]int, benchB*benchG)
	for r := range tokens {
		c := caps[r/benchG]
		t := make([]int, benchLen)
		for i := range benchLen - 1 {
			t[i] = c[(i+r)%len(c)]
		}
		t[benchLen-1] = cfg.EOS
		tokens[r] = t
	}
	return m, images, tokens
}

// BenchmarkSample: one rollout of 64 captions of 12 tokens (MaxLen 12: the untrained model
// rarely stops early). Reports the time per token step for all 64 rows.
func BenchmarkSample(b *testing.B) {
	m, images, _ := benchSetup(b)
	opt := SampleOptions{Temperature: 1, MaxLen: benchLen}
	steps := 0
	b.ResetTimer()
	clock := startCPU()
	defer clock.report(b)
	for i := range b.N {
		roll, err := m.Sample(images, benchG, opt, rowRNGs(benchB*benchG, uint64(i)))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, l := range roll.Lengths {
			n = max(n, l)
		}
		steps += n
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(steps), "us/step")
}

// BenchmarkLogProbsBackward: teacher-forced log-probs (with entropy) of 64 captions of 12
// tokens and a backward pass (the GRPO update's model work, vision frozen). "cached" reuses
// the frozen vision features of the rollout's images (as in a GRPO step); "uncached" alternates
// two batches of images so the vision encoder runs every time.
func BenchmarkLogProbsBackward(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := "cached"
		if !cached {
			name = "uncached"
		}
		b.Run(name, func(b *testing.B) {
			m, images, tokens := benchSetup(b)
			other, _ := scenes(b, m.cfg, benchB, 4)
			b.ResetTimer()
			clock := startCPU()
			defer clock.report(b)
			for i := range b.N {
				im := images
				if !cached && i%2 == 1 {
					im = other
				}
				sc, err := m.LogProbs(im, benchG, tokens, 1, true)
				if err != nil {
					b.Fatal(err)
				}
				a := raw.New(-1)
				loss := a.Keep(a.Sum(raw.Handle(sc.LogProbs)))
				if err := a.Free(); err != nil {
					b.Fatal(err)
				}
				if err := loss.Backward(); err != nil {
					b.Fatal(err)
				}
				loss.MustDrop()
				sc.Drop()
			}
		})
	}
}

// BenchmarkLogProbsNoGrad: the same forward pass for a frozen reference model (KL term).
func BenchmarkLogProbsNoGrad(b *testing.B) {
	m, images, tokens := benchSetup(b)
	if err := m.SetTrainable(false, false, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	clock := startCPU()
	defer clock.report(b)
	for range b.N {
		sc, err := m.LogProbs(images, benchG, tokens, 1, false)
		if err != nil {
			b.Fatal(err)
		}
		sc.Drop()
	}
}

// BenchmarkSFTLossBackward: Loss and backward for 64 oracle captions with every group
// trainable (an SFT step's model work): 64 scenes with one caption each, or 8 scenes with 8
// captions each (the image prefix computed once per scene).
func BenchmarkSFTLossBackward(b *testing.B) {
	for _, shape := range []struct{ scenes, per int }{{64, 1}, {8, 8}} {
		b.Run(fmt.Sprintf("%dx%d", shape.scenes, shape.per), func(b *testing.B) {
			cfg := DefaultConfig()
			m := newModel(b, cfg, 1)
			images, caps := scenes(b, cfg, shape.scenes, 5)
			var all [][]int
			for i := range caps {
				for range shape.per {
					all = append(all, caps[i])
				}
			}
			b.ResetTimer()
			clock := startCPU()
			defer clock.report(b)
			for range b.N {
				loss, _, err := m.Loss(images, all)
				if err != nil {
					b.Fatal(err)
				}
				if err := loss.Backward(); err != nil {
					b.Fatal(err)
				}
				loss.MustDrop()
			}
		})
	}
}

// cpuClock measures the process's CPU time over a benchmark, a steadier number than wall time
// on a shared machine.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuNow()} }

// report adds the CPU milliseconds per operation to b's results.
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
