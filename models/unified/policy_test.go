package unified

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/unigrpo/unigrpo/internal/pooled"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// The policy's sampled captions record the log-probs its teacher forcing gives the same tokens
// (the key/value cache against none). (Oracle: the model's two code paths.)
func TestPolicySampledMatchesLogProbs(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openTest(t, testFolder(t), testOptions(StageModel))
	imgs, _ := DefaultData().Images(1, 0, 0, 2)
	rngs := make([]*rand.Rand, 4)
	for i := range rngs {
		rngs[i] = stream.RNG(1, stream.Sample, 0, i)
	}
	roll, err := p.Sample(imgs, 2, policy.SampleOptions{Temperature: 1}, rngs)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.LogProbs(imgs, 2, roll.Tokens, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	got := make([]float32, len(roll.Tokens)*sc.T)
	if err := sc.LogProbs.CopyData(got, uint(len(got))); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for r, lps := range roll.LogProbs {
		if len(lps) == 0 || len(lps) > 8 {
			t.Errorf("row %d: %d tokens (MaxLen 8)", r, len(lps))
		}
		for i, lp := range lps {
			worst = math.Max(worst, math.Abs(float64(lp-got[r*sc.T+i])))
		}
	}
	t.Logf("max |sampled - teacher-forced| = %.3g", worst)
	if worst > 1e-5 {
		t.Errorf("sampled and teacher-forced log-probs differ by %.3g", worst)
	}
}

// Save writes a folder that Open reads as the same model: the same weights and greedy captions.
// (Oracle: the saved model itself.)
func TestPolicySaveOpen(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openTest(t, testFolder(t), testOptions(StageModel))
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := p.Save(path, map[string]string{"step": "2"}); err != nil {
		t.Fatal(err)
	}
	q := openTest(t, filepath.Dir(path), testOptions(StageModel))
	a := raw.New(-1)
	defer a.Free()
	pp, qp := p.J.Model.Params(), q.J.Model.Params()
	if len(pp) != len(qp) {
		t.Fatalf("%d weights, %d after saving", len(pp), len(qp))
	}
	for i, w := range pp {
		x, y := make([]float32, numel(a.Shape(w.Tensor))), make([]float32, numel(a.Shape(qp[i].Tensor)))
		a.CopyToFloat32(w.Tensor, x)
		a.CopyToFloat32(qp[i].Tensor, y)
		if qp[i].Name != w.Name || !reflect.DeepEqual(x, y) {
			t.Fatalf("weight %s differs after saving", w.Name)
		}
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	imgs, _ := DefaultData().Images(2, 0, 0, 2)
	x, _ := p.Sample(imgs, 1, policy.SampleOptions{Greedy: true}, nil)
	y, err := q.Sample(imgs, 1, policy.SampleOptions{Greedy: true}, nil)
	if err != nil || !reflect.DeepEqual(x.Tokens, y.Tokens) {
		t.Errorf("greedy captions %v, after saving %v (%v)", x.Tokens, y.Tokens, err)
	}
}

func numel(shape []int64) int {
	n := 1
	for _, s := range shape {
		n *= int(s)
	}
	return n
}

// Loss: at StageVQ the tokenizer's loss (finite, counted in images, only the VQ-VAE trains); at
// StageModel the mean over examples of the JanusRows tokens.go's prompts make (caption and
// answer + EOS; a drawing's codes of its own image, an empty caption in its unconditional form),
// counted in examples; on caption rows alone it is -mean over rows of the mean of LogProbs of
// caption + EOS. Loss leaves its rows as they were. (Oracles: the documented prompt layout,
// SequenceLoss (janus_policy_test.go) and teacher forcing.)
func TestPolicyLoss(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := testFolder(t)
	d := DefaultData()
	d.EmptyDraw = 0.5
	imgs, rows, _ := d.Pairs(3, 1, 0, 2, 6)

	vq := openTest(t, dir, testOptions(StageVQ))
	for _, prm := range vq.TrainableParams() {
		if !slices.ContainsFunc(vq.J.Model.Params(), func(q janus.Param) bool { return q.Name == prm.Name && q.Part == "vq" }) {
			t.Errorf("StageVQ trains %s", prm.Name)
		}
	}
	if v, n := lossOf(t, vq, imgs, rows[:2]); !finite(v) || n != 2 {
		t.Errorf("StageVQ loss %v over %d images", v, n)
	}

	p := openTest(t, dir, testOptions(StageModel))
	// Rows sharing one backing array: Loss must not write past a row's end.
	buf := slices.Concat(rows...)
	shared := make([][]int, len(rows))
	for r, off := 0, 0; r < len(rows); r++ {
		shared[r], off = buf[off:off+len(rows[r])], off+len(rows[r])
	}
	before := slices.Clone(buf)
	v, n := lossOf(t, p, imgs, shared)
	if !slices.Equal(buf, before) {
		t.Error("Loss wrote into its rows")
	}
	if !finite(v) || v <= 0 || n != len(rows) {
		t.Errorf("StageModel loss %v over %d examples", v, n)
	}
	codes, err := p.J.EncodeImages(imgs)
	if err != nil {
		t.Fatal(err)
	}
	seq := make([]janus.Row, len(rows))
	empty := 0
	for r, row := range rows {
		b := r / 6
		switch row[0] {
		case Describe:
			seq[r] = janus.Row{Image: b, Prompt: CaptionPrompt(p.P), Text: slices.Concat(row[1:], []int{world.EOS})}
		case Ask:
			i := slices.Index(row, Answer)
			seq[r] = janus.Row{Image: b, Prompt: QuestionPrompt(p.P, row[1:i]), Text: slices.Concat(row[i+1:], []int{world.EOS})}
		case Draw:
			prompt := DrawPrompt(row[1:])
			if len(row) == 1 {
				empty++
				prompt = slices.Concat([]int{world.BOS}, make([]int, emptyLength(codes[b], r%6)+1), []int{BeginImage})
			}
			seq[r] = janus.Row{Image: -1, Prompt: prompt, Codes: codes[b]}
		}
	}
	if empty == 0 {
		t.Fatal("no empty drawing prompt in the batch: pick another seed")
	}
	want, err := p.J.SequenceLoss(imgs, seq)
	if err != nil {
		t.Fatal(err)
	}
	if w := want.Float64Values()[0]; math.Abs(v-w) > 1e-6*w {
		t.Errorf("StageModel loss %v, SequenceLoss of the documented rows %v", v, w)
	}
	want.MustDrop()

	caps := [][]int{rows[0], rows[6]}
	v, n = lossOf(t, p, imgs, caps)
	tokens := [][]int{slices.Concat(rows[0][1:], []int{world.EOS}), slices.Concat(rows[6][1:], []int{world.EOS})}
	sc, err := p.LogProbs(imgs, 1, tokens, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	lp := make([]float32, 2*sc.T)
	if err := sc.LogProbs.CopyData(lp, uint(len(lp))); err != nil {
		t.Fatal(err)
	}
	sc.Drop()
	forced := 0.0
	for r, tok := range tokens {
		for i := range tok {
			forced -= float64(lp[r*sc.T+i]) / float64(len(tok)) / 2
		}
	}
	if n != 2 || math.Abs(v-forced) > 1e-5*forced {
		t.Errorf("caption loss %v over %d, -mean teacher-forced log-prob %v", v, n, forced)
	}
	if _, _, err := p.Loss(imgs, rows[:5]); err == nil {
		t.Error("5 examples for 2 images were accepted")
	}
}

// Loss's average over ranks, each weighted by its count, is the loss of the global batch (its
// doc's promise): the shares [0, 2) and [2, 4) of a step give the loss of [0, 4), empty drawing
// prompts included. (Oracle: world-size invariance; Data's keyed streams.)
func TestLossWorldSizeInvariant(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := testFolder(t)
	c, err := janus.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Vision.InitRange = 0.3
	if err := janus.WriteRandom(dir, c, 8); err != nil {
		t.Fatal(err)
	}
	p := openTest(t, dir, testOptions(StageModel))
	d := DefaultData()
	d.EmptyDraw = 1
	loss := func(lo, hi int) (float64, int) {
		imgs, rows, _ := d.Pairs(8, 2, lo, hi, 3)
		return lossOf(t, p, imgs, rows)
	}
	all, n := loss(0, 4)
	a, na := loss(0, 2)
	b, nb := loss(2, 4)
	if ranks := (a*float64(na) + b*float64(nb)) / float64(na+nb); n != na+nb || math.Abs(ranks-all) > 1e-5*all {
		t.Errorf("loss of the batch %v over %d examples, of two ranks %v over %d + %d", all, n, ranks, na, nb)
	}
}

// The self-decoder reward: one finite reward per caption with one part per embedder, the same
// for the same keys however the captions are batched (its code draws come from the keys), and a
// caption outside the vocabulary is refused. (Oracle: the keyed streams.)
func TestSelfDecoderReward(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o := testOptions(StageModel)
	o.Reward, o.DrawTemperature = "colour,edge", 1 // sampled draws: the keys matter
	p := openTest(t, testFolder(t), o)
	d := DefaultData()
	src, rows, _ := d.Pairs(4, 0, 0, 2, 1)
	// Captions of different lengths, so the two batchings pad differently.
	captions := []string{Text(rows[0][1:]), Text(rows[0][1:2]), Text(rows[1][1:]), ""}
	keys := stream.Keys(4, stream.Decode, 0, 0, 4)
	rw := p.Decoder()
	all, parts, err := rw.Rewards(src, 2, captions, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rw.Embedders()) != 2 {
		t.Errorf("embedders %v, want colour and edge", rw.Embedders())
	}
	if len(all) != 4 || len(parts) != 4 {
		t.Fatalf("%d rewards, %d parts for 4 captions", len(all), len(parts))
	}
	for i := range all {
		if !finite(all[i]) || len(parts[i]) != len(rw.Embedders()) {
			t.Errorf("caption %d: reward %v, parts %v for embedders %v", i, all[i], parts[i], rw.Embedders())
		}
	}
	var split []float64
	for b := range 2 {
		r, _, err := rw.Rewards(src[b:b+1], 2, captions[2*b:2*b+2], keys[2*b:2*b+2])
		if err != nil {
			t.Fatal(err)
		}
		split = append(split, r...)
	}
	for i := range all {
		if math.Abs(all[i]-split[i]) > 1e-6 {
			t.Errorf("caption %d: reward %v in one call, %v in two", i, all[i], split[i])
		}
	}
	// The draws are sampled (DrawTemperature 1): other keys, other drawings.
	if other, _, _ := rw.Rewards(src, 2, captions, stream.Keys(4, stream.Decode, 1, 0, 4)); reflect.DeepEqual(other, all) {
		t.Errorf("the rewards %v do not depend on the keys", all)
	}
	if _, _, err := rw.Rewards(src, 2, []string{"a zorblax", "", "", ""}, keys); err == nil {
		t.Error("a caption outside the vocabulary was accepted")
	}
	if _, _, err := rw.Rewards(src, 2, captions[:3], keys[:3]); err == nil {
		t.Error("3 captions for 2 images x G=2 were accepted")
	}
}

// Probe returns its keys (Probes) with values in [0, 1] on held-out scenes, at StageModel the
// VQA and drawing metrics, at StageVQ the tokenizer's. (Oracle: the metrics' definitions.)
func TestProbe(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := testFolder(t)
	set, err := task.Source{World: world.DefaultConfig()}.HeldOut(6, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []Stage{StageModel, StageVQ} {
		p := openTest(t, dir, testOptions(stage))
		m, err := p.Probe(set, 6)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", stage, m)
		if len(m) != len(p.Probes()) {
			t.Errorf("%s: %d metrics for %d probes", stage, len(m), len(p.Probes()))
		}
		for _, pr := range p.Probes() {
			v, ok := m[pr.Key]
			if !ok || !(v >= 0 && v <= 1) {
				t.Errorf("%s: %s = %v (present %v)", stage, pr.Key, v, ok)
			}
		}
		// ProbeItems: one item per scene for every probe but the codebook's use, pooling exactly
		// to Probe's values (oracle: pooled.Values, the definition of the pooled metrics).
		vals, items, err := p.ProbeItems(set, 6)
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range p.Probes() {
			if pr.Key == "codebook_use" {
				continue
			}
			if len(items[pr.Key]) != len(set.Images) || vals[pr.Key] != m[pr.Key] || pooled.Value(items[pr.Key]) != m[pr.Key] {
				t.Errorf("%s: %s has %d items pooling to %v; Probe %v", stage, pr.Key, len(items[pr.Key]), pooled.Value(items[pr.Key]), m[pr.Key])
			}
		}
		if stage == StageVQ && !(m["codebook_use"] > 0) {
			t.Errorf("codebook use %v", m["codebook_use"])
		}
		bad := *set
		bad.Labels = bad.Labels[:3]
		if _, err := p.Probe(&bad, 6); err == nil {
			t.Errorf("%s: a set with fewer labels than images was accepted", stage)
		}
	}
}
