package trainer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/models/unified"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// The unified model (UMM-2, Janus layout) through the trainer, wired as cmd/trainer/unified.go
// wires it: its two supervised stages and Unified-GRPO with the policy as its own decoder.

// tinyShape is a unified model small enough for loop tests to take seconds.
func tinyShape() unified.Shape {
	return unified.Shape{Dim: 32, Layers: 1, Heads: 2, Vision: 16, VLayers: 1, Codebook: 32, CodeDim: 4, Channels: 32}
}

// wrapUnified returns an opened unified model as a policy, keeping a failed open a nil interface.
func wrapUnified(p *unified.Policy, err error) (SupervisedPolicy, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// janusDir is the model folder of a checkpoint path (cmd/trainer's modelDir).
func janusDir(path string) string {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return filepath.Dir(path)
	}
	return path
}

// sftUnified runs a supervised stage of the unified model (unifiedSFTTask): StageVQ from a new
// model of tinyShape, StageModel from init (a VQ run or a model folder).
func sftUnified(c SFTConfig, stage unified.Stage, init string, d *Dist) error {
	o := unified.DefaultOptions()
	o.Stage, o.SFT = stage, true
	task := SFTTask{Data: unified.DefaultData(), Judge: worldtask.Judge{}}
	switch stage {
	case unified.StageVQ:
		c.Captions = 1 // the VQ stage reads images only
		task.New = func(dev gotch.Device, seed uint64) (SupervisedPolicy, error) {
			return wrapUnified(unified.New(tinyShape(), seed, dev, o))
		}
	case unified.StageModel:
		file, err := ResolveModel(init)
		if err != nil {
			return err
		}
		task.New = func(dev gotch.Device, seed uint64) (SupervisedPolicy, error) {
			return wrapUnified(unified.Open(janusDir(file), dev, o))
		}
	}
	return SFT(c, task, d, nil)
}

// trainUnified runs Unified-GRPO of a unified checkpoint (unifiedGRPOTask, unifiedLoader): no task
// reward, the policy redraws the images itself.
func trainUnified(c testRun, resume bool, d *Dist) error {
	load := func(path string, dev gotch.Device, lo LoadOptions) (Policy, error) {
		o := unified.DefaultOptions()
		o.Frozen, o.TrainVision, o.Reward = lo.Frozen, lo.TrainVision, c.Reward
		o.Guidance, o.DrawTemperature = c.Guidance, c.DrawTemperature
		if c.MaxLen > 0 {
			o.MaxLen = c.MaxLen
		}
		return wrapUnified(unified.Open(janusDir(path), dev, o))
	}
	task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Judge: worldtask.Judge{}, Load: load,
		About: "world scenes (unified model)", Config: c}
	return Train(c.GRPOConfig, task, resume, d, nil)
}

func smallUnifiedSFT(out string, steps int) SFTConfig {
	c := DefaultSFTConfig()
	c.Out, c.Steps, c.Batch, c.Captions, c.Warmup = out, steps, 2, 3, 1
	c.EvalEvery, c.EvalScenes, c.CkptEvery, c.LogEvery, c.CheckEvery = 0, 2, 0, 1, 1
	return c
}

// unifiedDir is the per-binary folder of the unified baseline (removed by TestMain).
func unifiedDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("unigrpo-test-unified-%d", os.Getpid()))
}

// unifiedBaseline trains the unified model's two supervised stages once per test binary: two VQ
// steps from a new model, then three steps of the three tasks. It returns the second run.
func unifiedBaseline(t *testing.T) string {
	t.Helper()
	vq, model := filepath.Join(unifiedDir(), "vq"), filepath.Join(unifiedDir(), "model")
	if _, err := os.Stat(filepath.Join(model, "eval.json")); err == nil {
		return model
	}
	os.RemoveAll(unifiedDir())
	if err := sftUnified(smallUnifiedSFT(vq, 2), unified.StageVQ, "", solo(t)); err != nil {
		t.Fatal(err)
	}
	if err := sftUnified(smallUnifiedSFT(model, 3), unified.StageModel, vq, solo(t)); err != nil {
		t.Fatal(err)
	}
	return model
}

// drawModes are the ways Unified-GRPO draws the reward's images: greedy, sampled from each
// caption's stream, and sampled with the joint objective over the drawn codes.
var drawModes = []struct {
	name  string
	temp  float64
	joint bool
}{{"greedy", 0, false}, {"sampled", 1, false}, {"joint", 1, true}}

func smallUnifiedGRPO(init, out string, drawTemp float64, joint bool) testRun {
	c := defaultTestRun()
	c.Init, c.Out, c.Steps, c.Batch, c.Group, c.MaxLen = init, out, 4, 2, 2, 12
	c.DrawTemperature, c.Guidance, c.Joint = drawTemp, 2, joint
	c.EvalEvery, c.EvalScenes, c.CkptEvery, c.PlotEvery, c.LogEvery, c.CheckEvery = 2, 2, 2, 0, 1, 2
	return c
}

// evalKeys are the held-out metrics of a record: eval_reward and the probes' eval_vqa_accuracy,
// eval_generation_accuracy... (StageVQ: eval_vq_mse...).
func evalKeys(r Record) []string {
	var ks []string
	for k := range r {
		if strings.HasPrefix(k, "eval_") {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

// sameRecords compares the keys (and every eval_ key) of two runs' records step by step, within
// tol relative to max(1, |x|).
func sameRecords(t *testing.T, what string, a, b []Record, keys []string, tol float64) {
	t.Helper()
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%s: %d and %d records", what, len(a), len(b))
	}
	for i := range a {
		if a[i]["step"] != b[i]["step"] {
			t.Fatalf("%s: record %d has steps %v and %v", what, i, a[i]["step"], b[i]["step"])
		}
		for _, k := range append(append([]string{}, keys...), evalKeys(a[i])...) {
			x, okx := a[i][k]
			y, oky := b[i][k]
			if !okx || !oky || math.IsNaN(x) || math.Abs(x-y) > tol*math.Max(1, math.Abs(x)) {
				t.Errorf("%s: step %v %s = %v (present %v) and %v (present %v)", what, a[i]["step"], k, x, okx, y, oky)
			}
		}
	}
}

// maxJanusDiff is the largest difference between the weights of two unified checkpoints, every
// part included.
func maxJanusDiff(t *testing.T, a, b string) float64 {
	t.Helper()
	parts := []string{"vision", "aligner", "lm", "vq", "gen"}
	x, y := janusWeights(t, a, parts...), janusWeights(t, b, parts...)
	if len(x) != len(y) {
		t.Fatalf("%s and %s hold %d and %d weights", a, b, len(x), len(y))
	}
	return maxDiff(x, y)
}

// janusWeights reads the weights of the named parts of a unified checkpoint, in the policy's
// order of trainable parameters.
func janusWeights(t *testing.T, path string, parts ...string) []float32 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	file, err := ResolveModel(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := janus.OpenPolicy(janusDir(file), tinyDevice, parts...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := NewFlat(p.TrainableParams(), tinyDevice)
	x := make([]float32, f.N)
	if err := f.ReadParams(x); err != nil {
		t.Fatal(err)
	}
	return x
}

func readRecords(t *testing.T, dir string) []Record {
	t.Helper()
	recs, err := ReadRecords(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Both supervised stages of the unified model give the same run on 1 and 2 ranks: the VQ stage
// from a new model, then the three tasks from a model folder and from the VQ run.
func TestUnifiedSFTWorldSizeInvariance(t *testing.T) {
	tmp := t.TempDir()
	folder := filepath.Join(tmp, "new")
	if err := unified.WriteFolder(folder, tinyShape(), 7); err != nil {
		t.Fatal(err)
	}
	keys := []string{"loss", "grad_norm", "lr", "tokens", "length_mean"}
	// The VQ stage runs at a smaller learning rate: with 32 channels the decoder's GroupNorms
	// have one channel per group, so the biases of the convolutions before them have a gradient
	// of exactly zero whose rounding noise AdamW turns into steps of up to about lr/2; with the
	// captioner's ratio of tolerance to learning rate (1e-4 to 5e-5) that noise stays inside.
	for _, st := range []struct {
		stage       unified.Stage
		init        string
		steps, eval int
		lr          float64
	}{
		{unified.StageVQ, "", 2, 2, 5e-5},
		{unified.StageModel, folder, 3, 3, 1e-3},
		{unified.StageModel, filepath.Join(tmp, "vq-1"), 2, 2, 1e-3},
	} {
		name := fmt.Sprintf("%s-%s", st.stage, filepath.Base(st.init))
		if st.init == "" {
			name = string(st.stage)
		}
		for _, world := range []int{1, 2} {
			c := smallUnifiedSFT(filepath.Join(tmp, fmt.Sprintf("%s-%d", name, world)), st.steps)
			c.EvalEvery, c.LR = st.eval, st.lr
			runRanks(t, world, func(d *Dist) error { return sftUnified(c, st.stage, st.init, d) })
		}
		a, b := readRecords(t, filepath.Join(tmp, name+"-1")), readRecords(t, filepath.Join(tmp, name+"-2"))
		if len(a) != st.steps || len(evalKeys(a[st.steps-1])) < 2 {
			t.Fatalf("%s: %d records, last %v; want %d with eval_ keys", name, len(a), a[len(a)-1], st.steps)
		}
		sameRecords(t, name+" on 1 and 2 ranks", a, b, keys, 1e-4)
		if d := maxJanusDiff(t, filepath.Join(tmp, name+"-1"), filepath.Join(tmp, name+"-2")); d > 1e-4 {
			t.Errorf("%s: weights after 2 ranks differ from one rank by up to %g", name, d)
		}
	}
}

var grpoKeys = []string{"reward_mean", "reward_std", "length_mean", "loss", "kl", "grad_norm", "entropy"}

// jointKeys are the drawing half's metrics of a joint run.
var jointKeys = []string{"draw_loss", "draw_kl", "draw_entropy", "draw_clip_low", "draw_clip_high", "draw_tokens"}

// keysOf are the metrics compared between two runs of a draw mode.
func keysOf(joint bool) []string {
	if joint {
		return append(append([]string{}, grpoKeys...), jointKeys...)
	}
	return grpoKeys
}

// Unified-GRPO from a unified SFT run gives the same run on 1 and 2 ranks, with greedy drawings,
// with drawings sampled from each caption's stream key, and with the joint objective.
func TestUnifiedGRPOWorldSizeInvariance(t *testing.T) {
	init := unifiedBaseline(t)
	for _, m := range drawModes {
		tmp := t.TempDir()
		for _, world := range []int{1, 2} {
			c := smallUnifiedGRPO(init, filepath.Join(tmp, fmt.Sprint(world)), m.temp, m.joint)
			runRanks(t, world, func(d *Dist) error { return trainUnified(c, false, d) })
		}
		a, b := readRecords(t, filepath.Join(tmp, "1")), readRecords(t, filepath.Join(tmp, "2"))
		if len(a) != 4 || len(evalKeys(a[3])) < 3 {
			t.Fatalf("%s: %d records, last %v; want 4 with eval_ keys", m.name, len(a), a[len(a)-1])
		}
		for _, k := range []string{"eval_reward", "eval_vqa_accuracy", "eval_generation_accuracy"} {
			if _, ok := a[3][k]; !ok {
				t.Errorf("%s: the last record has no %s", m.name, k)
			}
		}
		if _, ok := a[0]["draw_loss"]; ok != m.joint {
			t.Errorf("%s: draw_loss recorded: %v", m.name, ok)
		}
		sameRecords(t, m.name+", 1 and 2 ranks", a, b, keysOf(m.joint), 1e-4)
		if d := maxJanusDiff(t, filepath.Join(tmp, "1"), filepath.Join(tmp, "2")); d > 1e-4 {
			t.Errorf("%s: weights after 2 ranks differ from one rank by up to %g", m.name, d)
		}
	}
}

// The joint objective reaches the drawing direction: without it the generation path (used only
// by the drawings) gets no gradient, and with no weight decay its weights stay those of the SFT
// run exactly; with --joint they move, the drawn codes' KL to the reference grows from 0, and
// --joint is refused with greedy drawings. (Oracle: which weights the objective's graph holds.)
func TestUnifiedGRPOJointTrainsDrawing(t *testing.T) {
	init := unifiedBaseline(t)
	before := janusWeights(t, init, "gen") // the generation path: embeddings, aligner, head
	tmp := t.TempDir()
	for _, joint := range []bool{false, true} {
		c := smallUnifiedGRPO(init, filepath.Join(tmp, fmt.Sprint(joint)), 1, joint)
		c.WeightDecay, c.EvalEvery, c.LR = 0, 0, 1e-3
		if err := trainUnified(c, false, solo(t)); err != nil {
			t.Fatal(err)
		}
		d := maxDiff(before, janusWeights(t, c.Out, "gen"))
		if joint != (d > 0) {
			t.Errorf("joint %v: the generation path moved by up to %g", joint, d)
		}
		recs := readRecords(t, c.Out)
		if joint && !(recs[0]["draw_kl"] < 1e-9 && recs[3]["draw_kl"] > 0 && recs[3]["draw_entropy"] > 0) {
			t.Errorf("joint: draw_kl %v at step 1 and %v at step 4, entropy %v", recs[0]["draw_kl"], recs[3]["draw_kl"], recs[3]["draw_entropy"])
		}
	}
	// --joint with greedy drawings is refused by the command, which owns --draw-temperature
	// (cmd/trainer's TestUsageErrorsExit2).
}

// A Unified-GRPO run interrupted after step 2 and resumed to step 4 matches an uninterrupted
// run: same metrics at every step, no duplicate or missing step, same final weights.
func TestUnifiedGRPOResumeMatchesUninterrupted(t *testing.T) {
	init := unifiedBaseline(t)
	for _, m := range drawModes {
		temp := m.temp
		tmp := t.TempDir()
		full := smallUnifiedGRPO(init, filepath.Join(tmp, "full"), temp, m.joint)
		if err := trainUnified(full, false, solo(t)); err != nil {
			t.Fatal(err)
		}
		part := smallUnifiedGRPO(init, filepath.Join(tmp, "part"), temp, m.joint)
		part.Steps = 2
		if err := trainUnified(part, false, solo(t)); err != nil {
			t.Fatal(err)
		}
		// A crash after step 3 would leave a line the resumed run must replace.
		f, _ := os.OpenFile(filepath.Join(part.Out, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(`{"step":3,"reward_mean":123}` + "\n")
		f.Close()
		cfg, err := readTestRun(part.Out)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DrawTemperature != temp || cfg.Guidance != full.Guidance || cfg.Joint != m.joint {
			t.Fatalf("config.json records draw temperature %v and guidance %v; the run had %v and %v", cfg.DrawTemperature, cfg.Guidance, temp, full.Guidance)
		}
		cfg.Steps = 4
		if err := trainUnified(cfg, true, solo(t)); err != nil {
			t.Fatal(err)
		}
		a, b := readRecords(t, full.Out), readRecords(t, part.Out)
		if len(a) != 4 || len(b) != 4 {
			t.Fatalf("records: uninterrupted %d, resumed %d; want 4 each", len(a), len(b))
		}
		for i := range b {
			if int(b[i]["step"]) != i+1 {
				t.Fatalf("resumed run's record %d has step %v", i, b[i]["step"])
			}
		}
		sameRecords(t, m.name+", uninterrupted and resumed", a, b, keysOf(m.joint), 1e-5)
		if a[3]["weights_crc"] != b[3]["weights_crc"] {
			t.Errorf("%s: final weights differ: crc %v vs %v", m.name, a[3]["weights_crc"], b[3]["weights_crc"])
		}
	}
}
