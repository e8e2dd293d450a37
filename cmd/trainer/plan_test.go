package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/models/hf/shape"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/models/unified"
	"github.com/unigrpo/unigrpo/plan"
	"github.com/unigrpo/unigrpo/trainer"
)

// published holds the configs of Qwen2.5-VL-3B/7B and Janus-Pro-7B (fixtures, hf_test.go, the
// transformers fixtures).
const published = "../../models/hf/shape/testdata"

// loadPolicyAs loads a fixture with the loader `trainer train` uses for its family (c says the
// dtype, caption length, image size and --train-vision), and returns it with the bytes of every
// weight of its model as allocated.
func loadPolicyAs(t *testing.T, dir, family string, c trainConfig) (trainer.Policy, int64) {
	t.Helper()
	kind, err := parseDType(c.DType)
	if err != nil {
		t.Fatal(err)
	}
	var load func(string, gotch.Device, trainer.LoadOptions) (trainer.Policy, error)
	switch family {
	case "qwen2", "llama":
		h, err := openHFText(dir, "Describe the scene.", false)
		if err != nil {
			t.Fatal(err)
		}
		load = hfPolicyLoader(h, kind, 8, nil, 0)
	case "qwen2_5_vl":
		side, err := policyImageSize(c, dir, family)
		if err != nil {
			t.Fatal(err)
		}
		load = qwenVLLoader("Describe the scene.", kind, side, 8, nil, 0)
	case "janus":
		load = unifiedLoader(c)
	}
	p, err := load(dir, gotch.CPU, trainer.LoadOptions{TrainVision: c.TrainVision})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	switch m := p.(type) {
	case *lm.TextPolicy:
		for _, x := range m.LM.Tensors() {
			sum += raw.Bytes(x)
		}
	case *qwenvl.Policy:
		for _, x := range m.Model.Tensors() {
			sum += raw.Bytes(x)
		}
	case *unified.Policy:
		for _, prm := range m.J.Model.Params() {
			sum += raw.Bytes(prm.Tensor)
		}
	default:
		t.Fatalf("%s: a policy of type %T", dir, p)
	}
	return p, sum
}

// paramBytes is the bytes of the trainable parameters in their own dtypes: what their .grad take.
func paramBytes(ps []policy.Param) int64 {
	var n int64
	for _, p := range ps {
		n += raw.Bytes(raw.Handle(p.Tensor))
	}
	return n
}

// Oracle: the tensors the project's loaders allocate, and trainer.NewFlat, the trainer's own
// count of what trains. For each family, loaded as `trainer train` loads it (float32 and
// bfloat16; Janus, which the unified loader reads in float32, also with --train-vision), the
// plan's weights equal the bytes of the model's weights, its trainable count NewFlat's N, its
// .grad bytes those of the trainable parameters, and the masters are there exactly when NewFlat
// says the run is mixed.
func TestPlanCountsWhatTheLoadersAllocate(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	worldJanus := t.TempDir()
	if err := unified.WriteFolder(worldJanus, unified.Shape{Dim: 32, Layers: 1, Heads: 2, Vision: 16, VLayers: 1, Codebook: 32, CodeDim: 4, Channels: 32}, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir, family, dtype string
		trainVision        bool
	}{
		{filepath.Join(fixtures, "qwen2"), "qwen2", "float32", false}, {filepath.Join(fixtures, "qwen2"), "qwen2", "bfloat16", false},
		{filepath.Join(fixtures, "llama"), "llama", "bfloat16", false},
		{filepath.Join(fixtures, "qwen2_5_vl"), "qwen2_5_vl", "float32", false}, {filepath.Join(fixtures, "qwen2_5_vl"), "qwen2_5_vl", "bfloat16", false},
		{worldJanus, "janus", "float32", false}, {worldJanus, "janus", "float32", true},
	} {
		cfg := defaultTrainConfig()
		cfg.DType, cfg.TrainVision, cfg.Batch, cfg.Group = c.dtype, c.trainVision, 1, 2
		p, weights := loadPolicyAs(t, c.dir, c.family, cfg)
		flat := trainer.NewFlat(p.TrainableParams(), gotch.CPU)
		m, err := shape.Read(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		in, err := planInput(cfg, m, 1, false, "device", planKnobs{})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := plan.Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		name := c.family + " " + c.dtype
		if got := pl.Row("weights"); got != weights {
			t.Errorf("%s: plan's weights %d bytes, the loader allocated %d", name, got, weights)
		}
		if pl.Params.Trainable != int64(flat.N) {
			t.Errorf("%s (train vision %v): plan trains %d values, NewFlat %d", name, c.trainVision, pl.Params.Trainable, flat.N)
		}
		if got, want := pl.Row("gradients")-4*int64(flat.N), paramBytes(p.TrainableParams()); got != want {
			t.Errorf("%s: plan's .grad %d bytes, the trainable parameters %d", name, got, want)
		}
		if (pl.Row("master weights") > 0) != flat.Mixed() {
			t.Errorf("%s: masters %d bytes, NewFlat mixed %v", name, pl.Row("master weights"), flat.Mixed())
		}
		p.Close()
	}
}

// Oracle: the gradients autograd allocates. After a backward through the qwen2 text policy's
// log-probs, every trainable parameter's .grad holds the bytes the plan counts for them (in
// float32 and bfloat16).
func TestPlanGradientsAreWhatBackwardAllocates(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, dtype := range []string{"float32", "bfloat16"} {
		cfg := defaultTrainConfig()
		cfg.DType, cfg.Batch, cfg.Group = dtype, 1, 2
		p, _ := loadPolicyAs(t, filepath.Join(fixtures, "qwen2"), "qwen2", cfg)
		sc, err := p.LogProbs(make([]images.Planar, 1), 2, [][]int{{5, 6, 7}, {8, 9}}, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		a := raw.New(-1)
		obj := a.Keep(a.Sum(raw.Handle(sc.LogProbs)))
		if err := a.Free(); err != nil {
			t.Fatal(err)
		}
		if err := obj.Backward(); err != nil {
			t.Fatal(err)
		}
		obj.MustDrop()
		sc.Drop()
		var grads int64
		for _, prm := range p.TrainableParams() {
			g := prm.Tensor.MustGrad(false)
			grads += raw.Bytes(raw.Handle(g))
			g.MustDrop()
		}
		m, err := shape.Read(filepath.Join(fixtures, "qwen2"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := planInput(cfg, m, 1, false, "host", planKnobs{})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := plan.Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := pl.Row("gradients"); got != grads {
			t.Errorf("%s: plan's .grad %d bytes, backward allocated %d", dtype, got, grads)
		}
		p.Close()
	}
}

// Oracle: the key/value cache the project's stepper allocates (hf.Stepper.CacheBytes). R rows of
// a P-token prompt, then T single tokens, hold the cache the plan counts for a rollout batch of R,
// a prompt of P and captions of T (llama and qwen2, float32 and bfloat16). Qwen2.5-VL and Janus
// decode with the same hf.Decoder cache; their figure differs only by the image tokens in the
// prompt, which the stepper receives as prompt positions.
func TestPlanKVCacheIsWhatTheStepperAllocates(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const R, P, T = 3, 5, 4
	for _, family := range []string{"qwen2", "llama"} {
		for _, kind := range []raw.Kind{raw.Float32, raw.BFloat16} {
			dir := filepath.Join(fixtures, family)
			m, err := lm.Load(dir, gotch.CPU, kind)
			if err != nil {
				t.Fatal(err)
			}
			st := m.NewStepper(P + T - 1)
			in := hf.Batch{}
			for r := range R {
				ids, pos, mask := make([]int, P), make([]int, P), make([]int, P)
				for i := range P {
					ids[i], pos[i], mask[i] = 3+r+i, i, 1
				}
				in.IDs, in.Pos, in.Mask = append(in.IDs, ids), append(in.Pos, pos), append(in.Mask, mask)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for step := 0; step <= T; step++ {
				if err := st.Step(in); err != nil {
					t.Fatal(err)
				}
				for r := range R {
					in.IDs[r] = []int{rng.IntN(100)}
					in.Pos[r] = []int{P + step}
					in.Mask[r] = append(in.Mask[r], 1)
				}
				if step == T-1 {
					break
				}
			}
			got := st.CacheBytes()
			st.Close()
			m.Close()
			sm, err := shape.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := plan.Compute(plan.Input{Model: sm, Ranks: 1, Batch: 1, Group: R, MaxLen: T, PromptTokens: P, DType: kind.String(), Device: "cpu"})
			if err != nil {
				t.Fatal(err)
			}
			if pl.KVCache != got || pl.Row("KV cache") != got {
				t.Errorf("%s %v: plan's cache %d bytes (row %d), the stepper holds %d", family, kind, pl.KVCache, pl.Row("KV cache"), got)
			}
		}
	}
}

// Oracle: the published sizes (models/hf/shape/testdata/README.md). `trainer plan --json` on the
// Qwen2.5-VL-3B config counts 3.75 B parameters, and on Janus-Pro-7B about 7.42 B (7B in the
// paper), each within 1%.
func TestPlanCommandOnPublishedConfigs(t *testing.T) {
	for _, c := range []struct {
		dir  string
		want float64
	}{{"qwen2_5_vl_3b", 3.75e9}, {"janus_pro_7b", 7.42e9}} {
		out, code := runProgram(t, "plan", "--init", filepath.Join(published, c.dir), "--np", "8", "--dtype", "bfloat16",
			"--device", "cuda", "--budget", "80GB", "--host-budget", "2TB", "--image-size", "448", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", c.dir, code, out)
		}
		var p struct {
			Params struct{ Total int64 }
			Rows   []plan.Row
			Peak   plan.Peak
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%s: %v\n%s", c.dir, err, out)
		}
		if r := float64(p.Params.Total) / c.want; r < 0.99 || r > 1.01 {
			t.Errorf("%s: %d parameters, published %.3g", c.dir, p.Params.Total, c.want)
		}
		if len(p.Rows) < 6 || p.Peak.Device == 0 {
			t.Errorf("%s: %d rows, device peak %d", c.dir, len(p.Rows), p.Peak.Device)
		}
	}
	// Replicated, the 3B run is over an 80 GB GPU and the plan names the knob that helps.
	out, code := runProgram(t, "plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--np", "8", "--dtype", "bfloat16",
		"--device", "cuda", "--budget", "80GB", "--host-budget", "2TB", "--image-size", "448", "--shard-optimizer=false")
	for _, want := range []string{"weights", "master weights", "AdamW moments", "gradients", "reference", "KV cache", "activations", "peak per rank", "OVER", "--shard-optimizer"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("the table (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
}

// Oracle: the usage contract (exit 2 with a message naming the mistake, no panic).
func TestPlanUsageErrors(t *testing.T) {
	noConfig := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "--init is required"},
		{[]string{"plan", "--init", noConfig}, "config.json"},
		{[]string{"plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--dtype", "float16"}, "--dtype"},
		{[]string{"plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--np", "3"}, "--batch 8"},
		{[]string{"plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--device", "cuda", "--budget", "lots"}, "--budget"},
		{[]string{"plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--budget", "0GB"}, "--budget"},
		{[]string{"plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--host-budget", "-1GB"}, "--host-budget"},
		{[]string{"plan", "--init", filepath.Join(published, "qwen2_5_vl_3b"), "--device", "tpu"}, "--device"},
	} {
		got, code := runProgram(t, c.args...)
		if code != 2 || !strings.Contains(got, c.want) || strings.Contains(got, "goroutine ") {
			t.Errorf("trainer %v: exit %d, output %q; want exit 2 mentioning %q", c.args, code, got, c.want)
		}
	}
}

// Oracle: the order of a run's start. `trainer train` on a Qwen2.5-VL-3B folder whose weights
// file is not a safetensors file refuses its plan over a 1 GB host (exit 2, the knobs named, its
// own micro-batch and rollout batch in the plan) before it opens the weights; with --no-plan-check it goes on to the weights and fails there.
func TestTrainRefusesAPlanOverBudgetBeforeLoading(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"config.json", "preprocessor_config.json"} {
		js, err := os.ReadFile(filepath.Join(published, "qwen2_5_vl_3b", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("not weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--init", dir, "--out", t.TempDir(), "--host-budget", "1GB", "--steps", "1", "--group", "8",
		"--micro-batch", "2", "--rollout-batch", "1"}
	got, code := runProgram(t, args...)
	// The run's micro-batch and rollout batch reach its plan.
	for _, want := range []string{"memory plan per rank", "1 rank, --micro-batch 2 --rollout-batch 1)", "the memory plan does not fit", "--activation-checkpointing", "--no-plan-check"} {
		if code != 2 || !strings.Contains(got, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, got)
		}
	}
	got, code = runProgram(t, append(args, "--no-plan-check")...)
	if code == 0 || code == 2 || strings.Contains(got, "does not fit") {
		t.Errorf("--no-plan-check: exit %d (want the load's failure, 1):\n%s", code, got)
	}
}

// Oracle: the plan of the same run (plan.Compute). `trainer train` on the qwen2 fixture prints
// its memory plan, with the weights the plan counts, and runs (the plan fits).
func TestTrainPrintsItsPlan(t *testing.T) {
	dir := filepath.Join(fixtures, "qwen2")
	got, code := runProgram(t, "train", "--init", dir, "--out", t.TempDir(), "--steps", "1", "--batch", "1", "--group", "2",
		"--max-len", "4", "--eval-scenes", "0", "--monitor-interval", "0")
	m, err := shape.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "weights " + plan.Human(m.Bytes(4))
	if code != 0 || !strings.Contains(got, "memory plan per rank") || !strings.Contains(got, want) || !strings.Contains(got, "fits") {
		t.Errorf("exit %d; the output lacks the plan (%q):\n%s", code, want, got)
	}
}
