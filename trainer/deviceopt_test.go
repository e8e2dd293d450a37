package trainer

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/cmem"
	"github.com/unigrpo/unigrpo/models/captioner"

	"github.com/unigrpo/unigrpo/internal/procfs"
)

// optimizerRun is a model and its learner, with the optimizer state where `where` says.
type optimizerRun struct {
	m *captioner.Model
	l *learner
}

func newOptimizerRun(t *testing.T, where string) *optimizerRun {
	t.Helper()
	m, err := captioner.New(tinyModel(), tinyDevice, 7)
	if err != nil {
		t.Fatal(err)
	}
	d := solo(t)
	d.Optimizer = where
	l, err := newLearner(m, d, Schedule{LR: 3e-2, Warmup: 5}, 0.5, 0.1)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	if where == "device" {
		if _, ok := l.opt.(*deviceOptimizer); !ok {
			t.Fatalf("Dist.Optimizer = device gave a %T", l.opt)
		}
	}
	return &optimizerRun{m: m, l: l}
}

func (r *optimizerRun) close() { r.l.close(); r.m.Close() }

// backward sets the gradients of a loss whose gradient depends on the weights (so any difference
// in the updates grows): sum_i <p_i, r_i> + 0.5 |p|^2, with r drawn from rng.
func (r *optimizerRun) backward(t *testing.T, rng *rand.Rand) {
	t.Helper()
	var total *ts.Tensor
	for _, p := range r.l.flat.Params {
		n := 1
		for _, d := range p.Shape {
			n *= int(d)
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		rt := ts.MustOfSlice(x).MustView(p.Shape, true)
		lin := p.Tensor.MustMul(rt, false).MustSum(gotch.Float, true)
		sq := p.Tensor.MustMul(p.Tensor, false).MustSum(gotch.Float, true).MustMulScalar(ts.FloatScalar(0.5), true)
		s := lin.MustAdd(sq, true)
		sq.MustDrop()
		rt.MustDrop()
		if total == nil {
			total = s
		} else {
			total = total.MustAdd(s, true)
			s.MustDrop()
		}
	}
	total.MustBackward()
	total.MustDrop()
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// The device optimizer (state in libtorch tensors, update by libtorch ops) gives the host
// optimizer's weights and moments after 20 steps with clipping, weight decay and warmup, the CPU
// standing in for the device. Oracle: the host AdamW of adamw.go, whose steps adamw_test.go
// checks against values computed by hand.
func TestDeviceOptimizerMatchesHost(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, dev := newOptimizerRun(t, "host"), newOptimizerRun(t, "device")
	defer host.close()
	defer dev.close()
	rh, rd := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
	clipped := 0
	for step := 1; step <= 20; step++ {
		host.backward(t, rh)
		dev.backward(t, rd)
		gh, lrh, err := host.l.update(step)
		if err != nil {
			t.Fatal(err)
		}
		gd, lrd, err := dev.l.update(step)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(gh-gd) > 1e-6*gh || lrh != lrd {
			t.Fatalf("step %d: grad norm %v / lr %v on the host, %v / %v on the device", step, gh, lrh, gd, lrd)
		}
		if gh > 0.5 {
			clipped++
		}
	}
	if clipped == 0 {
		t.Fatal("no step was clipped: the test does not cover the clip")
	}
	if n := dev.l.opt.(*deviceOptimizer).hostTrips; n != 0 {
		t.Errorf("20 steps of one rank sent the gradients through host memory %d times, want none", n)
	}
	ph, pd := make([]float32, host.l.flat.N), make([]float32, dev.l.flat.N)
	if err := host.l.opt.params(0, ph); err != nil {
		t.Fatal(err)
	}
	if err := dev.l.opt.params(0, pd); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(ph, pd); d > 1e-6 {
		t.Errorf("weights differ by up to %g after 20 steps", d)
	}
	sh, _ := host.l.state()
	sd, err := dev.l.state()
	if err != nil {
		t.Fatal(err)
	}
	if sh.Step != 20 || sd.Step != 20 {
		t.Errorf("update counts %d (host) and %d (device), want 20", sh.Step, sd.Step)
	}
	if d := math.Max(maxDiff(sh.M, sd.M), maxDiff(sh.V, sd.V)); d > 1e-6 {
		t.Errorf("moments differ by up to %g", d)
	}
	// On the CPU the two paths run the same float32 operations in the same order, so their
	// checkpoints (weights and optimizer state) are the same bytes.
	saveBoth := func(r *optimizerRun, dir string) [][]byte {
		st, err := r.l.state()
		if err != nil {
			t.Fatal(err)
		}
		ck, err := SaveCheckpoint(dir, State{Step: 20, Kind: "test"}, st, func(p string) error { return r.m.Save(p, nil) }, 1)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, f := range []string{modelFile, optimFile} {
			b, err := os.ReadFile(filepath.Join(ck, f))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	tmp := t.TempDir()
	bh, bd := saveBoth(host, filepath.Join(tmp, "host")), saveBoth(dev, filepath.Join(tmp, "device"))
	for i, f := range []string{modelFile, optimFile} {
		if !bytes.Equal(bh[i], bd[i]) {
			t.Errorf("after 20 steps the host and device paths save different %s", f)
		}
	}
	// The weights moved: a device update that did nothing would fail here.
	fresh := newOptimizerRun(t, "host")
	defer fresh.close()
	p0 := make([]float32, fresh.l.flat.N)
	_ = fresh.l.opt.params(0, p0)
	if maxDiff(p0, pd) < 1e-3 {
		t.Error("the device optimizer left the weights where they started")
	}
}

// A checkpoint written from the device optimizer has the host optimizer's format: loaded into a
// host optimizer and saved again it gives the same bytes, and loaded back into a device optimizer
// it gives the same state. So a run saved on a GPU resumes on a CPU and the other way round.
func TestDeviceOptimizerCheckpointRoundTrip(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev := newOptimizerRun(t, "device")
	defer dev.close()
	rng := rand.New(rand.NewPCG(5, 6))
	for step := 1; step <= 3; step++ {
		dev.backward(t, rng)
		if _, _, err := dev.l.update(step); err != nil {
			t.Fatal(err)
		}
	}
	save := func(l *learner, dir string) []byte {
		st, err := l.state()
		if err != nil {
			t.Fatal(err)
		}
		ck, err := SaveCheckpoint(dir, State{Step: 3, Kind: "test"}, st, func(p string) error { return os.WriteFile(p, []byte("m"), 0o644) }, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(ck, optimFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tmp := t.TempDir()
	fromDevice := save(dev.l, filepath.Join(tmp, "a"))
	ck, _ := Checkpoints(filepath.Join(tmp, "a"))
	_, opt, err := LoadState(ck[0], dev.l.flat.N)
	if err != nil {
		t.Fatal(err)
	}
	host := newOptimizerRun(t, "host")
	defer host.close()
	if err := host.l.restore(opt); err != nil {
		t.Fatal(err)
	}
	if again := save(host.l, filepath.Join(tmp, "b")); !bytes.Equal(fromDevice, again) {
		t.Error("the host optimizer saves a device checkpoint's state to different bytes")
	}
	back := newOptimizerRun(t, "device")
	defer back.close()
	if err := back.l.restore(opt); err != nil {
		t.Fatal(err)
	}
	if again := save(back.l, filepath.Join(tmp, "c")); !bytes.Equal(fromDevice, again) {
		t.Error("a device optimizer restored from a checkpoint saves different bytes")
	}
	if back.l.opt.updates() != 3 {
		t.Errorf("restored update count %d, want 3", back.l.opt.updates())
	}
}

// The device optimizer frees its temporaries every step: 200 updates of the default-size model
// (632k trainable values, four temporaries of 2.5 MB each per step) leave the resident set flat.
func TestDeviceOptimizerMemoryFlat(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, err := captioner.New(captioner.DefaultConfig(), tinyDevice, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := solo(t)
	d.Optimizer = "device"
	l, err := newLearner(m, d, Schedule{LR: 1e-3}, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.opt.(*deviceOptimizer); !ok {
		t.Fatalf("Dist.Optimizer = device gave a %T", l.opt)
	}
	defer l.close()
	rss := func() int64 {
		cmem.Trim()
		b, err := procfs.SelfRSS()
		if err != nil {
			t.Skip(err)
		}
		return b
	}
	var base int64
	for step := 1; step <= 200; step++ {
		if _, _, err := l.update(step); err != nil {
			t.Fatal(err)
		}
		if step == 20 {
			base = rss()
		}
	}
	if grew := rss() - base; grew > 16<<20 {
		t.Fatalf("resident memory grew by %d MiB over 180 device updates", grew>>20)
	}
}
