package trainer

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// The micro-batches of B = 3 images x G = 4 rows cover every row once, in order, each whole
// images or part of one image's group. Oracle: the partitions written out by hand.
func TestMicroBatchesSplitRows(t *testing.T) {
	for _, c := range []struct {
		M    int
		want []microBatch
	}{
		{0, []microBatch{{0, 12, 0, 3, 4}}},
		{12, []microBatch{{0, 12, 0, 3, 4}}},
		{4, []microBatch{{0, 4, 0, 1, 4}, {4, 8, 1, 2, 4}, {8, 12, 2, 3, 4}}},
		{8, []microBatch{{0, 8, 0, 2, 4}, {8, 12, 2, 3, 4}}},
		{2, []microBatch{{0, 2, 0, 1, 2}, {2, 4, 0, 1, 2}, {4, 6, 1, 2, 2}, {6, 8, 1, 2, 2}, {8, 10, 2, 3, 2}, {10, 12, 2, 3, 2}}},
	} {
		if got := microBatches(3, 4, c.M); !slices.Equal(got, c.want) {
			t.Errorf("M=%d: %v, want %v", c.M, got, c.want)
		}
	}
	for _, M := range []int{3, 6, -1} {
		if err := checkMicroBatch(M, 4); err == nil {
			t.Errorf("--micro-batch %d with G=4 accepted", M)
		}
	}
	for _, M := range []int{0, 1, 2, 4, 8, 12} {
		if err := checkMicroBatch(M, 4); err != nil {
			t.Errorf("--micro-batch %d with G=4: %v", M, err)
		}
	}
}

// Adding a batch's rows to the objective in parts gives the full batch's loss, diagnostics and
// coefficients exactly (the same additions in the same order). Oracle: Objective over the batch.
func TestObjectiveSumsOfPartsEqualWhole(t *testing.T) {
	tr := Trajectories{
		Len:  []int{3, 2, 0, 1},
		LogP: [][]float64{{-1.1, -0.3, -2.0}, {-0.7, -1.9, 0}, {0, 0, 0}, {-0.2, 0, 0}},
		Old:  [][]float64{{-1.0, -0.05, -2.3}, {-0.9, -1.5, 0}, {0, 0, 0}, {-0.9, 0, 0}},
		Ref:  [][]float64{{-1.3, -0.2, -1.0}, {-0.6, -2.5, 0}, {0, 0, 0}, {-0.1, 0, 0}},
		Adv:  []float64{0.8, -1.3, 0.4, 1.1},
	}
	o := ObjectiveOptions{EpsLow: 0.2, EpsHigh: 0.28, Beta: 0.3, Agg: SeqMeanTokenMean, GlobalN: 8, GlobalTokens: 12, World: 2}
	whole, err := Objective(tr, o)
	if err != nil {
		t.Fatal(err)
	}
	if whole.ClipLow == 0 || whole.ClipHigh == 0 || whole.KL == 0 {
		t.Fatalf("the batch should clip both ways and have a KL: %+v", whole)
	}
	var sums objectiveSums
	var coef [][]float64
	for _, part := range [][2]int{{0, 1}, {1, 3}, {3, 4}} {
		a, b := part[0], part[1]
		c, err := sums.add(Trajectories{Len: tr.Len[a:b], LogP: tr.LogP[a:b], Old: tr.Old[a:b], Ref: tr.Ref[a:b], Adv: tr.Adv[a:b]}, o)
		if err != nil {
			t.Fatal(err)
		}
		coef = append(coef, c...)
	}
	got := sums.result()
	got.Coef = coef
	if fmt.Sprint(got) != fmt.Sprint(whole) {
		t.Errorf("in parts %+v\nwhole    %+v", got, whole)
	}
}

// mbRun is what a GRPO run with micro-batches of M rows and rollouts of R images computes in
// step 1 with mu = 2: the captions; the objective, entropy and accumulated gradients of the first
// iteration (the sampling policy's) and the weights after its optimizer step; the objective and
// gradients of the second iteration (ratios off 1, a KL to the reference).
type mbRun struct {
	captions      []string
	first, second ObjectiveResult
	entropy       float64
	grads         [2][]float32
	weights       []float32
}

// microBatchUpdate opens the run of c (B images x G rows on one rank), samples and rewards step 1
// and runs two iterations of the update. Each iteration's gradients are read out (which zeroes
// them); the first's are computed again for its optimizer step.
func microBatchUpdate(t *testing.T, c GRPOConfig, task Task) mbRun {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g, _, err := openGRPO(c, task, false, solo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	ro, err := g.rollout(1, 0, c.Batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := g.reward(1, 0, ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.countTokens(ro); err != nil {
		t.Fatal(err)
	}
	tr, opts, up, err := g.prepare(1, ro, rw)
	if err != nil {
		t.Fatal(err)
	}
	N := g.l.flat.N
	run := mbRun{captions: ro.texts, grads: [2][]float32{make([]float32, N), make([]float32, N)}, weights: make([]float32, N)}
	for it := range 2 {
		var res ObjectiveResult
		if tr.old, res, err = g.backward(1, it, ro, rw, tr, opts, up); err != nil {
			t.Fatal(err)
		}
		if err := g.l.flat.ReadGrads(run.grads[it]); err != nil { // zeroes them in the model
			t.Fatal(err)
		}
		if it == 1 {
			run.second = res
			break
		}
		run.first, run.entropy = res, up.entropy
		if _, _, err := g.backward(1, it, ro, rw, tr, opts, &updated{}); err != nil { // the same gradients again
			t.Fatal(err)
		}
		if _, _, err := g.l.update(1); err != nil {
			t.Fatal(err)
		}
		if err := g.l.opt.params(0, run.weights); err != nil {
			t.Fatal(err)
		}
	}
	return run
}

// sameObjective checks an objective against the full batch's within tol (relative above 1).
func sameObjective(t *testing.T, what string, g, w ObjectiveResult, tol float64) {
	t.Helper()
	if g.Tokens != w.Tokens {
		t.Errorf("%s: %d tokens, full batch %d", what, g.Tokens, w.Tokens)
	}
	for _, f := range []struct {
		name string
		x, y float64
	}{{"loss", g.Loss, w.Loss}, {"kl", g.KL, w.KL}, {"clip_low", g.ClipLow, w.ClipLow}, {"clip_high", g.ClipHigh, w.ClipHigh},
		{"ratio", g.RatioMean, w.RatioMean}} {
		if math.Abs(f.x-f.y) > tol*math.Max(1, math.Abs(f.y)) {
			t.Errorf("%s: %s %.9g, full batch %.9g", what, f.name, f.x, f.y)
		}
	}
}

// compareMicroBatch checks a micro-batched run against the full-batch one: the same captions, the
// objectives and entropy, gradients and weights within 1e-6 (float32 sums over batches of other
// shapes round differently).
func compareMicroBatch(t *testing.T, what string, got, want mbRun) {
	t.Helper()
	if !slices.Equal(got.captions, want.captions) {
		t.Fatalf("%s: captions differ from the unbatched rollout's:\n%q\n%q", what, got.captions, want.captions)
	}
	// Iteration 1 is the same step on the same weights: 1e-6. Iteration 2 (mu = 2) starts from
	// weights that already differ by float32 rounding of iteration 1's sums (up to about 7e-8
	// here, see the weights' check below); with one-row micro-batches its ratio has been seen
	// 1.1e-6 (relative) off the full batch's on the world's training scenes, so its objectives are
	// held to 1e-5 while its gradients stay at 1e-6.
	sameObjective(t, what+" iteration 1", got.first, want.first, 1e-6)
	sameObjective(t, what+" iteration 2", got.second, want.second, 1e-5)
	if math.Abs(got.entropy-want.entropy) > 1e-6*math.Max(1, math.Abs(want.entropy)) {
		t.Errorf("%s: entropy %.9g, full batch %.9g", what, got.entropy, want.entropy)
	}
	if want.second.KL == 0 || want.second.RatioMean == 1 {
		t.Fatalf("%s: the second iteration has no KL (%g) or ratios of 1: the reference and the ratios are not exercised", what, want.second.KL)
	}
	for it := range 2 {
		scale := 0.0
		for _, v := range want.grads[it] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		if scale == 0 {
			t.Fatalf("%s: iteration %d of the full batch has no gradient", what, it+1)
		}
		if d := maxDiff(got.grads[it], want.grads[it]); d > 1e-6*math.Max(1, scale) {
			t.Errorf("%s: iteration %d: gradients differ from the full batch's by up to %g (largest %g)", what, it+1, d, scale)
		} else {
			t.Logf("%s: iteration %d: gradients within %.3g of the full batch's (largest %.3g)", what, it+1, d, scale)
		}
	}
	// AdamW's first step moves a weight by lr g/(|g| + eps), eps = 1e-8: for a gradient near eps a
	// difference of 1e-8 in it (float32 rounding of a sum of larger terms) moves the weight by a
	// good part of lr. The weights are compared where the step is set by the gradient, |g| >= 1e-6.
	worst, skipped := 0.0, 0
	for i, w := range want.weights {
		if math.Abs(float64(want.grads[0][i])) < 1e-6 {
			skipped++
			continue
		}
		worst = math.Max(worst, math.Abs(float64(got.weights[i]-w)))
	}
	if worst > 1e-6 {
		t.Errorf("%s: weights after the step differ from the full batch's by up to %g", what, worst)
	}
	t.Logf("%s: weights within %.3g (%d of %d with |g| < 1e-6 not compared)", what, worst, skipped, len(want.weights))
}

// Micro-batches of M < G, M = G and M = 2G rows (the last holding one image), with rollouts of 1
// or 2 images at a time, give the full batch's step on the world's captioner: the same captions,
// objective, gradients and weights within 1e-6 in float32, the KL reference in micro-batches too.
// Oracle: the full-batch path (M = 0, one rollout).
func TestMicroBatchMatchesFullBatchWorld(t *testing.T) {
	c := smallGRPO(baseline(t), t.TempDir())
	c.Batch, c.Group, c.Beta, c.LR, c.Mu = 3, 4, 0.1, 1e-2, 2
	task, err := worldTask(c)
	if err != nil {
		t.Fatal(err)
	}
	runMicroBatchCases(t, c.GRPOConfig, task)
}

// The same on a Hugging Face policy, the tiny Qwen2 fixture as a text-prompted policy. Oracle:
// its full-batch path.
func TestMicroBatchMatchesFullBatchHF(t *testing.T) {
	dir, load := qwen2TextPolicy(t, raw.Float32)
	c := smallGRPO(filepath.Join(dir, "model.safetensors"), t.TempDir())
	c.Batch, c.Group, c.Beta, c.LR, c.Mu = 3, 4, 0.1, 1e-2, 2
	rw, err := worldtask.NewReward(world.DefaultConfig(), "all")
	if err != nil {
		t.Fatal(err)
	}
	task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
	runMicroBatchCases(t, c.GRPOConfig, task)
}

func runMicroBatchCases(t *testing.T, c GRPOConfig, task Task) {
	t.Helper()
	full := microBatchUpdate(t, c, task)
	t.Logf("full batch, iteration 2: %+v", full.second)
	for _, v := range []struct{ M, R int }{{2, 1}, {4, 2}, {8, 0}, {1, 3}} {
		c.MicroBatch, c.RolloutBatch = v.M, v.R
		compareMicroBatch(t, fmt.Sprintf("--micro-batch %d --rollout-batch %d", v.M, v.R), microBatchUpdate(t, c, task), full)
	}
}
