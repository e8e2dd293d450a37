package hf

import (
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// The policy tests run on a random model of the reference fixture's shape (testdata/janus:
// V = 100, BOS 1, EOS 2, PAD 0, <image> 97, <begin_of_image> 98, 16 placeholders, K = 32),
// written by WriteRandomJanus, with a VQ-VAE of four levels so that its latent grid (32 / 8 = 4)
// is the tower's 4 x 4 grid: the tokenizer's codes are then the generation's.

const jpEOS, jpImage, jpBOI = 2, 97, 98

// writeJanusPolicyFolder writes the random model folder and returns it.
func writeJanusPolicyFolder(t *testing.T, seed uint64) string {
	t.Helper()
	cfg, err := ReadJanusConfig(janusDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.VQ.ChannelMultiplier = []int{1, 1, 1, 1}
	if g := cfg.VQ.Grid(cfg.Vision.ImageSize); g != cfg.Vision.Grid() {
		t.Fatalf("VQ grid %d, tower grid %d", g, cfg.Vision.Grid())
	}
	dir := t.TempDir()
	if err := WriteRandomJanus(dir, cfg, seed); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openJanusPolicy(t *testing.T, dir string, parts ...string) *JanusPolicy {
	t.Helper()
	p, err := OpenJanusPolicy(dir, gotch.CPU, parts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// jpImages are n random 32x32 images with values in [0, 1].
func jpImages(n int, seed uint64) []images.Planar {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]images.Planar, n)
	for i := range out {
		out[i] = images.NewPlanar(3, 32, 32)
		for k := range out[i].Pix {
			out[i].Pix[k] = rng.Float32()
		}
	}
	return out
}

func jpRngs(n int, seed uint64) []*rand.Rand {
	out := make([]*rand.Rand, n)
	for i := range out {
		out[i] = rand.New(rand.NewPCG(seed, uint64(i)))
	}
	return out
}

// jpPrompt is BOS, the 16 placeholders of an image, then words.
func jpPrompt(words ...int) []int {
	p := []int{1}
	for range 16 {
		p = append(p, jpImage)
	}
	return append(p, words...)
}

// tensorValues copies a tensor to the host.
func tensorValues(t *testing.T, a *raw.Arena, x raw.Tensor) []float32 {
	t.Helper()
	sh := a.Shape(x)
	v := make([]float32, Numel(sh))
	a.CopyToFloat32(a.Contiguous(a.To(x, raw.Float32)), v)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

// scoreRows copies the log-probs of ScoreText, one row per caption.
func scoreRows(t *testing.T, sc *policy.Scores, tokens [][]int) [][]float32 {
	t.Helper()
	all := make([]float32, len(tokens)*sc.T)
	if err := sc.LogProbs.CopyData(all, uint(len(all))); err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(tokens))
	for r, tok := range tokens {
		out[r] = all[r*sc.T : r*sc.T+len(tok)]
	}
	return out
}

// maxDiff returns max |x - y| and max |y|.
func maxDiff(t *testing.T, x, y []float32) (worst, scale float64) {
	t.Helper()
	if len(x) != len(y) {
		t.Fatalf("%d values, %d expected", len(x), len(y))
	}
	for i := range x {
		worst, scale = math.Max(worst, math.Abs(float64(x[i]-y[i]))), math.Max(scale, math.Abs(float64(y[i])))
	}
	return worst, scale
}

// compareLogProbs fails where a rollout's log-probs differ from teacher forcing's by over 1e-5.
func compareLogProbs(t *testing.T, what string, roll, forced [][]float32) {
	t.Helper()
	worst := 0.0
	for r := range roll {
		w, _ := maxDiff(t, roll[r], forced[r])
		worst = math.Max(worst, w)
	}
	t.Logf("%s: max |sampled - teacher-forced| log-prob %.3g", what, worst)
	if !(worst <= 1e-5) {
		t.Errorf("%s: sampled and teacher-forced log-probs differ by %.3g", what, worst)
	}
}

// Sampled vs teacher-forced: the log-probs SampleText and Continue record (key/value cache, left
// padding, features entering at the first step) equal ScoreText's of the same tokens (no cache,
// one prompt per call). Greedy sampling is repeatable and rows of one image agree. (Oracle: the
// model's two code paths.)
func TestJanusPolicySampledMatchesScored(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 11), "lm", "gen")
	imgs := jpImages(2, 1)
	prompt := jpPrompt(5)
	roll, err := p.SampleText(imgs, 2, prompt, 6, []int{jpEOS}, policy.SampleOptions{Temperature: 0.8, MinLen: 2}, jpRngs(4, 5))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.ScoreText(imgs, 2, prompt, roll.Tokens, 0.8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	compareLogProbs(t, "SampleText", roll.LogProbs, scoreRows(t, sc, roll.Tokens))
	for r := range roll.Tokens {
		if roll.Lengths[r] < 2 || len(roll.Hidden[r]) != 64 {
			t.Errorf("row %d: %d tokens, hidden of %d", r, roll.Lengths[r], len(roll.Hidden[r]))
		}
	}

	// Continue: prompts of different lengths, each with its own image.
	prompts := [][]int{jpPrompt(5, 6, 7, 8), jpPrompt(9)}
	cont, err := p.Continue(imgs, prompts, 5, []int{jpEOS}, policy.SampleOptions{Temperature: 1}, jpRngs(2, 8))
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		sc, err := p.ScoreText(imgs[i:i+1], 1, prompts[i], cont.Tokens[i:i+1], 1, false)
		if err != nil {
			t.Fatal(err)
		}
		compareLogProbs(t, "Continue", cont.LogProbs[i:i+1], scoreRows(t, sc, cont.Tokens[i:i+1]))
		sc.Drop()
	}

	// Greedy: twice the same, and the G rows of an image alike.
	greedy := func() [][]int {
		r, err := p.SampleText(imgs, 2, prompt, 5, []int{jpEOS}, policy.SampleOptions{Greedy: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Tokens
	}
	g1, g2 := greedy(), greedy()
	if !reflect.DeepEqual(g1, g2) || !reflect.DeepEqual(g1[0], g1[1]) || !reflect.DeepEqual(g1[2], g1[3]) {
		t.Errorf("greedy captions %v then %v", g1, g2)
	}
}

// A caption may hold the image token (the policy can sample it): ScoreText scores it as text,
// as sampling read it, and the tokens before it as the caption cut before it. (Oracle:
// causality; models/hf/qwenvl's test of the same case.)
func TestJanusPolicyCaptionWithImageToken(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 18))
	imgs := jpImages(1, 9)
	tokens := [][]int{{5, jpImage, 6, jpEOS}, {5}}
	sc, err := p.ScoreText(imgs, 2, jpPrompt(4), tokens, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	got := scoreRows(t, sc, tokens)
	if math.Abs(float64(got[0][0]-got[1][0])) > 1e-5 { // rows padded to other lengths: float sums differ
		t.Errorf("the first token's log-prob %v, %v when the caption ends there", got[0][0], got[1][0])
	}
	for i, v := range got[0] {
		if !(v < 0) {
			t.Errorf("log-prob %d of the caption is %v", i, v)
		}
	}
}

// jpRows are a text row of each image (prompts of different lengths) and two code rows (a
// caption, and the unconditional form of an empty one).
func jpRows(p *JanusPolicy) []JanusRow {
	rng := rand.New(rand.NewPCG(4, 4))
	codes := func() []int {
		c := make([]int, 16)
		for i := range c {
			c[i] = rng.IntN(32)
		}
		return c
	}
	return []JanusRow{
		{Image: 0, Prompt: jpPrompt(5), Text: []int{10, 11, jpEOS}},
		{Image: -1, Prompt: []int{1, 20, 21, jpBOI}, Codes: codes()},
		{Image: 1, Prompt: jpPrompt(6, 7, 8), Text: []int{12, jpEOS}},
		{Image: -1, Prompt: p.Unconditional([]int{1, 30, 31, 32, jpBOI}), Codes: codes()},
	}
}

func lossValue(t *testing.T, p *JanusPolicy, imgs []images.Planar, rows []JanusRow) float64 {
	t.Helper()
	l, err := p.SequenceLoss(imgs, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer l.MustDrop()
	return l.Float64Values()[0]
}

// SequenceLoss is the mean over rows of each row's mean target cross-entropy: a batch's loss is
// the mean of its rows' losses alone (padding and grouping change nothing); a text row's loss is
// -mean of ScoreText's log-probs of its target at temperature 1; a code row's is the
// cross-entropy computed here in float64 from generation_head's logits of the forward pass, which
// janus_test.go checks against the reference. (Oracles: ScoreText, and log-softmax by hand.)
func TestJanusPolicySequenceLoss(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 12))
	imgs := jpImages(2, 2)
	rows := jpRows(p)
	all := lossValue(t, p, imgs, rows)
	mean := 0.0
	alone := make([]float64, len(rows))
	for i := range rows {
		alone[i] = lossValue(t, p, imgs, rows[i:i+1])
		mean += alone[i] / float64(len(rows))
	}
	rev := lossValue(t, p, imgs, []JanusRow{rows[3], rows[2], rows[1], rows[0]})
	t.Logf("batch %.7f, mean of rows %.7f, reversed %.7f", all, mean, rev)
	if math.Abs(all-mean) > 1e-5*math.Abs(mean) || math.Abs(rev-mean) > 1e-5*math.Abs(mean) {
		t.Errorf("batch loss %v (reversed %v), mean of its rows' losses %v", all, rev, mean)
	}

	for _, i := range []int{0, 2} {
		r := rows[i]
		sc, err := p.ScoreText(imgs[r.Image:r.Image+1], 1, r.Prompt, [][]int{r.Text}, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for _, lp := range scoreRows(t, sc, [][]int{r.Text})[0] {
			want -= float64(lp) / float64(len(r.Text))
		}
		sc.Drop()
		if math.Abs(alone[i]-want) > 1e-5*want {
			t.Errorf("text row %d: loss %v, -mean ScoreText log-prob %v", i, alone[i], want)
		}
	}

	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	for _, i := range []int{1, 3} {
		r := rows[i]
		in := JanusBatch{IDs: [][]int{slices.Concat(r.Prompt, make([]int, len(r.Codes)))},
			Codes: [][]int{slices.Concat(slices.Repeat([]int{-1}, len(r.Prompt)), r.Codes)}}
		a := raw.New(-1)
		h, err := p.Model.forward(a, in, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		lg := tensorValues(t, a, p.Model.imageLogits(a, h)) // [1, T, K]
		a.Free()
		want := 0.0
		for k, code := range r.Codes {
			row := lg[(len(r.Prompt)-1+k)*32 : (len(r.Prompt)+k)*32]
			top, z := float64(slices.Max(row)), 0.0
			for _, v := range row {
				z += math.Exp(float64(v) - top)
			}
			want -= (float64(row[code]) - top - math.Log(z)) / float64(len(r.Codes))
		}
		if math.Abs(alone[i]-want) > 1e-5*want {
			t.Errorf("code row %d: loss %v, cross-entropy by hand %v", i, alone[i], want)
		}
	}
	if _, err := p.SequenceLoss(imgs, []JanusRow{{Image: 2, Prompt: jpPrompt(5), Text: []int{2}}}); err == nil {
		t.Error("a row showing a missing image was accepted")
	}
	if _, err := p.SequenceLoss(imgs, []JanusRow{{Image: 0, Prompt: jpPrompt(5)}}); err == nil {
		t.Error("a row without a target was accepted")
	}
}

// Gradients: SequenceLoss with "lm" and "gen" training lists exactly their weights and reaches
// every one of them, and nothing of the vision tower, aligner or VQ-VAE; VQLoss with "vq"
// training reaches the whole VQ-VAE (codebook included) and nothing else. (Oracle: autograd's
// definition.)
func TestJanusPolicyGradients(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	dir := writeJanusPolicyFolder(t, 13)
	imgs := jpImages(2, 3)
	for _, c := range []struct {
		parts []string
		loss  func(p *JanusPolicy) (*ts.Tensor, error)
	}{
		{[]string{"lm", "gen"}, func(p *JanusPolicy) (*ts.Tensor, error) { return p.SequenceLoss(imgs, jpRows(p)) }},
		{[]string{"vq"}, func(p *JanusPolicy) (*ts.Tensor, error) { return p.VQLoss(imgs) }},
	} {
		p := openJanusPolicy(t, dir, c.parts...)
		want := 0
		for _, prm := range p.Model.Params() {
			if slices.Contains(c.parts, prm.Part) {
				want++
			}
		}
		if n := len(p.TrainableParams()); n != want {
			t.Errorf("%d trainable parameters, the parts %v have %d", n, c.parts, want)
		}
		l, err := c.loss(p)
		if err != nil {
			t.Fatal(err)
		}
		if v := l.Float64Values()[0]; math.IsNaN(v) || math.IsInf(v, 0) || l.Backward() != nil {
			t.Fatalf("%v: loss %v", c.parts, v)
		}
		l.MustDrop()
		a := raw.New(-1)
		for _, prm := range p.Model.Params() {
			g, on := a.Grad(prm.Tensor), slices.Contains(c.parts, prm.Part)
			switch {
			case on && !raw.Defined(g):
				t.Errorf("%s (%s) trains but has no gradient", prm.Name, prm.Part)
			case on && !slices.ContainsFunc(tensorValues(t, a, g), func(v float32) bool { return v != 0 }):
				t.Errorf("%s (%s) has an all-zero gradient", prm.Name, prm.Part)
			case !on && (raw.Defined(g) || raw.RequiresGrad(prm.Tensor)):
				t.Errorf("%s (%s) is frozen but has a gradient or requires one", prm.Name, prm.Part)
			}
		}
		a.Free()
	}
}

// The tokenizer quantises as it decodes (janus_vqtrain.go): the codes of quantizeL2 are, for
// every latent vector, the codebook row of largest cosine (computed here in float64), they are
// EncodeImages', and decoding its straight-through zq gives DecodeCodes of those codes; Reconstruct
// is DecodeImages of EncodeImages. (Oracles: the definition of the l2 quantiser; DecodeCodes,
// checked against the reference in janus_test.go.)
func TestJanusPolicyTokenizerConsistent(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 14))
	m := p.Model
	imgs := jpImages(3, 4)
	codes, err := p.EncodeImages(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for b, row := range codes {
		if len(row) != 16 || slices.Min(row) < 0 || slices.Max(row) >= 32 {
			t.Fatalf("image %d: codes %v, want 16 in [0, 32)", b, row)
		}
	}

	a := raw.New(-1)
	defer a.Free()
	px, err := p.pixels(a, imgs)
	if err != nil {
		t.Fatal(err)
	}
	z := m.vq.encode(a, px)
	zq, ct, _ := m.vq.quantizeL2(a, z)
	zv := tensorValues(t, a, z) // [B, E, h, w]
	cb := tensorValues(t, a, m.names["model.vqmodel.quantize.embedding.weight"])
	got := tensorValues(t, a, ct)
	const E, n = 4, 16
	for b := range imgs {
		for s := range n {
			best, arg := math.Inf(-1), -1
			for k := range 32 {
				dot, zz, cc := 0.0, 0.0, 0.0
				for e := range E {
					zi, ci := float64(zv[(b*E+e)*n+s]), float64(cb[k*E+e])
					dot, zz, cc = dot+zi*ci, zz+zi*zi, cc+ci*ci
				}
				if c := dot / math.Sqrt(zz*cc); c > best {
					best, arg = c, k
				}
			}
			if int(got[b*n+s]) != arg || codes[b][s] != arg {
				t.Errorf("image %d position %d: quantizeL2 %v, EncodeImages %d, largest cosine %d", b, s, got[b*n+s], codes[b][s], arg)
			}
		}
	}

	dec, err := m.DecodeCodes(codes)
	if err != nil {
		t.Fatal(err)
	}
	if worst, _ := maxDiff(t, tensorValues(t, a, m.vq.decode(a, zq)), dec); worst != 0 {
		t.Errorf("training's reconstructions and DecodeCodes differ by %.3g", worst)
	}

	// The straight-through estimator: sum(w * zq)'s gradient in z is sum(w * u)'s, u = z / |z|.
	grad := func(f func(b *raw.Arena, z raw.Tensor) raw.Tensor) []float32 {
		defer raw.SetGradEnabled(raw.SetGradEnabled(true))
		b := raw.New(-1)
		defer b.Free()
		zl := b.FromFloat32(zv, 3, E, 4, 4)
		if err := raw.SetRequiresGrad(zl, true); err != nil {
			t.Fatal(err)
		}
		w := make([]float32, len(zv))
		for i := range w {
			w[i] = float32(i%7) - 3
		}
		l := b.Keep(b.Sum(b.Mul(f(b, zl), b.FromFloat32(w, 3, E, 4, 4))))
		if l == nil || l.Backward() != nil {
			t.Fatal(b.Err())
		}
		l.MustDrop()
		return tensorValues(t, b, b.Grad(zl))
	}
	g1 := grad(func(b *raw.Arena, z raw.Tensor) raw.Tensor { zq, _, _ := m.vq.quantizeL2(b, z); return zq })
	g2 := grad(func(b *raw.Arena, z raw.Tensor) raw.Tensor { return b.L2Normalize(z, 1, 1e-12) })
	worst, scale := maxDiff(t, g1, g2)
	t.Logf("straight-through gradient: max diff %.3g of %.3g", worst, scale)
	if !(worst <= 1e-5*scale) {
		t.Errorf("straight-through gradient differs from u's by %.3g of %.3g", worst, scale)
	}

	rec, rc, err := p.Reconstruct(imgs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.DecodeImages(codes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rc, codes) || !reflect.DeepEqual(rec, want) {
		t.Error("Reconstruct is not DecodeImages(EncodeImages)")
	}
}

// Unconditional keeps BOS and <begin_of_image> only; drawing (DrawCodes, DecodeImages) depends
// only on its generators (and is repeatable greedily), returns images of the tower's side with
// values in [0, 1], and draws GenerateImageCodes' codes; a folder whose tokenizer grid is not the
// grid the model draws is refused. (Oracles: determinism and the documented ranges.)
func TestJanusPolicyDraw(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 15))
	if got := p.Unconditional([]int{1, 5, 1, 6, jpBOI, 7, jpBOI}); !reflect.DeepEqual(got, []int{1, 0, 1, 0, jpBOI, 0, jpBOI}) {
		t.Errorf("Unconditional: %v", got)
	}
	prompts := [][]int{{1, 5, 6, jpBOI}, {1, 7, jpBOI}}
	o := ImageGenOptions{Scale: 3, Temperature: 1}
	draw := func(seed uint64) ([][]int, []images.Planar) {
		codes, _, err := p.DrawCodes(prompts, o, jpRngs(2, seed))
		if err != nil {
			t.Fatal(err)
		}
		ims, err := p.DecodeImages(codes)
		if err != nil {
			t.Fatal(err)
		}
		return codes, ims
	}
	drawn, x := draw(1)
	_, y := draw(1)
	codes, _ := p.Model.GenerateImageCodes(prompts, o, jpRngs(2, 1))
	if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(drawn, codes) {
		t.Error("drawings with the same generators differ, or DrawCodes differs from GenerateImageCodes")
	}
	other, _ := p.Model.GenerateImageCodes(prompts, o, jpRngs(2, 2))
	if reflect.DeepEqual(codes, other) {
		t.Error("different generators drew the same codes")
	}
	for i, im := range x {
		if im.C != 3 || im.H != 32 || im.W != 32 {
			t.Fatalf("drawing %d is %dx%dx%d", i, im.C, im.H, im.W)
		}
		for _, v := range im.Pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("drawing %d has the value %v", i, v)
			}
		}
	}
	g := ImageGenOptions{Scale: 3, Greedy: true}
	g1, _ := p.Model.GenerateImageCodes(prompts, g, nil)
	g2, _ := p.Model.GenerateImageCodes(prompts, g, nil)
	if !reflect.DeepEqual(g1, g2) {
		t.Errorf("greedy codes %v then %v", g1, g2)
	}
	// The reference fixture's VQ-VAE halves 32 once (16 x 16 codes) but it draws 4 x 4.
	if bad, err := OpenJanusPolicy(janusDir, gotch.CPU); err == nil {
		bad.Close()
		t.Error("a folder whose tokenizer grid is not its generation grid was opened")
	}
}
