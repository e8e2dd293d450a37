package unified

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/cmem"
	"github.com/unigrpo/unigrpo/internal/procfs"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// Resident memory stays flat over supervised steps (Loss: the tokenizer's encoding and
// SequenceLoss, then backward): every temporary is freed. (Oracle: /proc's VmRSS, with the Go
// heap returned first.)
func TestLossMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	p := openTest(t, testFolder(t), testOptions(StageModel))
	imgs, rows, _ := DefaultData().Pairs(5, 0, 0, 2, 3)
	flatRSS(t, func(int) {
		l, _, err := p.Loss(imgs, rows)
		if err != nil || l.Backward() != nil {
			t.Fatal(err)
		}
		l.MustDrop()
		zeroGrads(p)
	})
}

// flatRSS runs step 60 times and fails if resident memory grew by over 4 MiB between the 20th
// and the last (the Go heap and the C allocator's free pages returned to the system before each
// reading, as trainer's flat-memory tests do, so that only live memory counts).
func flatRSS(t *testing.T, step func(i int)) {
	t.Helper()
	rss := func() int64 {
		cmem.Trim() // the Go heap and glibc's free pages returned: what stays is live
		b, err := procfs.SelfRSS()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const warm, total = 20, 60
	var base int64
	for i := range total {
		step(i)
		if i == warm-1 {
			base = rss()
		}
	}
	end := rss()
	t.Logf("RSS after %d steps %.1f MiB, after %d steps %.1f MiB", warm, float64(base)/(1<<20), total, float64(end)/(1<<20))
	if end-base > 4<<20 {
		t.Errorf("RSS grew by %.1f MiB over %d steps", float64(end-base)/(1<<20), total-warm)
	}
}

// zeroGrads zeroes the gradients the trainable parameters have (the aligner, for one, gets none
// from a drawing).
func zeroGrads(p *Policy) {
	for _, prm := range p.TrainableParams() {
		g := prm.Tensor.MustGrad(false)
		if g.MustDefined() {
			g.MustZero_()
		}
		g.MustDrop()
	}
}

// Resident memory stays flat over the joint objective's drawing half (DrawRewards, then
// CodeLogProbs and backward through both guidance rows): every temporary is freed. (Oracle:
// /proc's VmRSS, with freed memory returned first.)
func TestJointMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	o := testOptions(StageModel)
	o.DrawTemperature = 1
	p := openTest(t, testFolder(t), o)
	src, rows, _ := DefaultData().Pairs(4, 0, 0, 2, 1)
	captions := []string{Text(rows[0][1:]), Text(rows[0][1:2]), Text(rows[1][1:]), ""}
	flatRSS(t, func(i int) {
		_, _, codes, err := p.DrawRewards(src, 2, captions, stream.Keys(4, stream.Decode, i, 0, 4))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := p.CodeLogProbs(captions, codes, true)
		if err != nil {
			t.Fatal(err)
		}
		s := sc.LogProbs.MustSum(gotch.Float, false)
		if err := s.Backward(); err != nil {
			t.Fatal(err)
		}
		s.MustDrop()
		sc.Drop()
		zeroGrads(p)
	})
}
