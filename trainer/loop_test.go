package trainer

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/plots"
)

// tinyModel is a policy small enough for loop tests to take seconds.
func tinyModel() captioner.Config {
	m := captioner.TinyConfig()
	m.MaxLen = 28
	return m
}

func solo(t *testing.T) *Dist {
	t.Helper()
	ring, store, err := collective.Connect(context.Background(), collective.Options{Rank: 0, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ring.Close(); store.Close() })
	return &Dist{Comm: ring}
}

// baseline trains a tiny SFT checkpoint once per test binary.
func baseline(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("unigrpo-test-sft-%d", os.Getpid()))
	if _, err := os.Stat(filepath.Join(dir, "eval.json")); err == nil {
		return dir
	}
	c := DefaultSFTConfig()
	c.Out, c.Steps, c.Batch, c.EvalScenes, c.LogEvery = dir, 6, 8, 4, 1
	if err := sftWorld(c, tinyModel(), solo(t)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	os.RemoveAll(filepath.Join(os.TempDir(), fmt.Sprintf("unigrpo-test-sft-%d", os.Getpid())))
	os.RemoveAll(unifiedDir())
	os.Exit(code)
}

func smallGRPO(init, out string) testRun {
	c := defaultTestRun()
	c.Init, c.Out, c.Steps, c.Batch, c.Group = init, out, 6, 4, 2
	c.EvalEvery, c.EvalScenes, c.CkptEvery, c.PlotEvery, c.LogEvery, c.CheckEvery = 3, 4, 3, 0, 1, 3
	return c
}

func TestSFTWritesRunFolder(t *testing.T) {
	dir := baseline(t)
	for _, f := range []string{"config.json", "metrics.jsonl", "eval.json", "log.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("sft run folder lacks %s", f)
		}
	}
	recs, err := ReadRecords(filepath.Join(dir, "metrics.jsonl"))
	if err != nil || len(recs) != 6 {
		t.Fatalf("metrics: %d records, %v", len(recs), err)
	}
	if _, ok := recs[5]["eval_object_recall"]; !ok {
		t.Fatalf("last SFT record has no eval_ keys: %v", recs[5])
	}
	if _, err := ResolveModel(dir); err != nil {
		t.Fatal(err)
	}
}

// A run interrupted after step 3 and resumed to step 6 matches an uninterrupted run: same
// metrics at every step, no duplicate or missing step, same final weights.
func TestResumeMatchesUninterrupted(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	full := smallGRPO(init, filepath.Join(tmp, "full"))
	if err := trainWorld(full, false, solo(t)); err != nil {
		t.Fatal(err)
	}
	part := smallGRPO(init, filepath.Join(tmp, "part"))
	part.Steps = 3
	if err := trainWorld(part, false, solo(t)); err != nil {
		t.Fatal(err)
	}
	// A crash after step 4 would leave a line the resumed run must replace.
	f, _ := os.OpenFile(filepath.Join(part.Out, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":4,"reward_mean":123}` + "\n")
	f.Close()
	cfg, err := readTestRun(part.Out)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Steps = 6
	if err := trainWorld(cfg, true, solo(t)); err != nil {
		t.Fatal(err)
	}
	a, _ := ReadRecords(filepath.Join(full.Out, "metrics.jsonl"))
	b, _ := ReadRecords(filepath.Join(part.Out, "metrics.jsonl"))
	if len(a) != 6 || len(b) != 6 {
		t.Fatalf("records: uninterrupted %d, resumed %d; want 6 each", len(a), len(b))
	}
	for i := range a {
		if int(b[i]["step"]) != i+1 {
			t.Fatalf("resumed run's record %d has step %v", i, b[i]["step"])
		}
		for _, k := range []string{"reward_mean", "length_mean", "loss", "kl", "grad_norm"} {
			if math.Abs(a[i][k]-b[i][k]) > 1e-5 {
				t.Errorf("step %d %s: uninterrupted %v, resumed %v", i+1, k, a[i][k], b[i][k])
			}
		}
	}
	if a[5]["weights_crc"] != b[5]["weights_crc"] {
		t.Errorf("final weights differ: crc %v vs %v", a[5]["weights_crc"], b[5]["weights_crc"])
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runRanks runs fn on `world` in-process ranks connected by the CPU ring.
func runRanks(t *testing.T, world int, fn func(d *Dist) error) { runRanksWith(t, world, false, fn) }

// runRanksWith runs fn on in-process ranks; with fused set, gradients go through the fused
// device-buffer path (the CPU standing in for the device).
func runRanksWith(t *testing.T, world int, fused bool, fn func(d *Dist) error) {
	t.Helper()
	port := freePort(t)
	var wg sync.WaitGroup
	errs := make([]error, world)
	for r := 0; r < world; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			ring, store, err := collective.Connect(context.Background(), collective.Options{
				Rank: r, Size: world, MasterAddr: "127.0.0.1", MasterPort: port, Token: "test", Transport: collective.TransportTCP})
			if err != nil {
				errs[r] = err
				return
			}
			defer store.Close()
			defer ring.Close()
			d := &Dist{Comm: ring}
			if fused {
				d.Grads = hostView{ring}
			}
			errs[r] = fn(d)
		}(r)
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// The same seed and global batch give the same run on 1, 2 or 4 ranks.
func TestWorldSizeInvariance(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	var runs [][]Record
	for _, world := range []int{1, 2, 4} {
		c := smallGRPO(init, filepath.Join(tmp, fmt.Sprint(world)))
		c.Steps = 4
		runRanks(t, world, func(d *Dist) error { return trainWorld(c, false, d) })
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, recs)
	}
	for w := 1; w < len(runs); w++ {
		for i := range runs[0] {
			for _, k := range []string{"reward_mean", "reward_std", "length_mean", "loss", "kl", "grad_norm", "entropy"} {
				x, y := runs[0][i][k], runs[w][i][k]
				if math.Abs(x-y) > 1e-4*math.Max(1, math.Abs(x)) {
					t.Errorf("world %d step %d %s = %v, one rank gave %v", []int{1, 2, 4}[w], i+1, k, y, x)
				}
			}
		}
	}
	pa, _ := ResolveModel(filepath.Join(tmp, "1"))
	for _, w := range []string{"2", "4"} {
		pb, _ := ResolveModel(filepath.Join(tmp, w))
		if d := maxWeightDiff(t, pa, pb); d > 1e-4 {
			t.Errorf("weights after %s ranks differ from one rank by up to %g", w, d)
		}
	}
}

var tinyDevice = gotch.CPU

func maxWeightDiff(t *testing.T, a, b string) float64 {
	t.Helper()
	// Model work belongs on one OS thread: libtorch's grad mode is per thread, and Load turns
	// it off around its copies.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ma, _, err := captioner.Load(a, tinyDevice)
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Close()
	mb, _, err := captioner.Load(b, tinyDevice)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	fa, fb := NewFlat(ma.Params(), tinyDevice), NewFlat(mb.Params(), tinyDevice)
	xa, xb := make([]float32, fa.N), make([]float32, fb.N)
	if err := fa.ReadParams(xa); err != nil {
		t.Fatal(err)
	}
	if err := fb.ReadParams(xb); err != nil {
		t.Fatal(err)
	}
	return maxDiff(xa, xb)
}

// A step that fails (a NaN loss) stops the loop with the step named, and the checkpoints of the
// steps before it stay the last good state.
func TestLoopStopsAtBadStepKeepingCheckpoints(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, err := captioner.New(tinyModel(), tinyDevice, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := solo(t)
	l, err := newLearner(m, d, Schedule{LR: 1e-3}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := loopSpec{what: "train", dir: dir, config: map[string]int{"x": 1}, resumeAt: -1,
		every: Intervals{Log: 1, Ckpt: 1, Plot: 100, Keep: 10}}
	spec.step = func(step int) (Record, error) {
		if step == 4 {
			return nil, fmt.Errorf("step %d: loss is NaN", step)
		}
		return Record{"step": float64(step), "tokens": 1, "loss": 0.5}, nil
	}
	lp, err := openLoop(spec, d, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lp.close()
	err = lp.steps(0, 6)
	if err == nil || !strings.Contains(err.Error(), "step 4") {
		t.Fatalf("error %v, want one naming step 4", err)
	}
	cks, _ := Checkpoints(dir)
	if len(cks) != 3 || filepath.Base(cks[2]) != "step-000003" {
		t.Fatalf("checkpoints %v, want steps 1-3", cks)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log.txt"))
	if !strings.Contains(string(log), "newest checkpoint (step 3) is the last good state") {
		t.Fatalf("log does not name the last good checkpoint:\n%s", log)
	}
}

// The fused gradient buffer (the NCCL path on GPUs: gradients packed on the device and reduced in
// place) and the device optimizer (the CUDA path: AdamW state on the device) give the same run as
// the host path, on two ranks.
func TestFusedGradientBufferMatchesHostPath(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	var runs [][]Record
	// host optimizer through the ring, then with the fused buffer; the device optimizer (state in
	// libtorch tensors) through host staging and the ring, then with the fused buffer
	variants := []struct {
		opt   string
		fused bool
	}{{"host", false}, {"host", true}, {"device", false}, {"device", true}}
	for i, v := range variants {
		c := smallGRPO(init, filepath.Join(tmp, fmt.Sprint(i)))
		c.Steps = 3
		runRanksWith(t, 2, v.fused, func(d *Dist) error { d.Optimizer = v.opt; return trainWorld(c, false, d) })
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, recs)
	}
	pa, _ := ResolveModel(filepath.Join(tmp, "0"))
	for j := 1; j < len(variants); j++ {
		for i := range runs[0] {
			for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm"} {
				if x, y := runs[0][i][k], runs[j][i][k]; math.Abs(x-y) > 1e-6*math.Max(1, math.Abs(x)) {
					t.Errorf("step %d %s: host path %v, %+v %v", i+1, k, x, variants[j], y)
				}
			}
		}
		pb, _ := ResolveModel(filepath.Join(tmp, fmt.Sprint(j)))
		if d := maxWeightDiff(t, pa, pb); d > 1e-6 {
			t.Errorf("%+v: weights differ from the host path by up to %g", variants[j], d)
		}
	}
}

// A GRPO run evaluates its starting policy before the first step (baseline.json), and the run's
// plots read it as step 0 of the held-out curve.
func TestBaselineStartsHeldOutCurve(t *testing.T) {
	c := smallGRPO(baseline(t), filepath.Join(t.TempDir(), "run"))
	c.Steps, c.EvalEvery = 2, 2
	if err := trainWorld(c, false, solo(t)); err != nil {
		t.Fatal(err)
	}
	m, err := plots.ReadRun(filepath.Join(c.Out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Series("eval_reward")
	if len(s) != 2 || s[0].Step != 0 || s[1].Step != 2 || s[0].Value == 0 || math.IsNaN(s[0].Value) {
		t.Fatalf("held-out reward series %v, want points at steps 0 and 2", s)
	}
	if r, _ := ReadRecords(filepath.Join(c.Out, "metrics.jsonl")); len(r) != 2 {
		t.Fatalf("metrics.jsonl has %d records, want one per step", len(r))
	}
}
