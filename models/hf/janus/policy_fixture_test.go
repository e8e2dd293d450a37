package janus

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// The policy tests run on a random model of the reference fixture's shape (testdata/janus:
// V = 100, BOS 1, EOS 2, PAD 0, <image> 97, <begin_of_image> 98, 16 placeholders, K = 32),
// written by WriteRandom, with a VQ-VAE of four levels so that its latent grid (32 / 8 = 4)
// is the tower's 4 x 4 grid: the tokenizer's codes are then the generation's.

const jpEOS, jpImage, jpBOI = 2, 97, 98

// writeJanusPolicyFolder writes the random model folder and returns it.
func writeJanusPolicyFolder(t *testing.T, seed uint64) string {
	t.Helper()
	cfg, err := ReadConfig(janusDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.VQ.ChannelMultiplier = []int{1, 1, 1, 1}
	if g := cfg.VQ.Grid(cfg.Vision.ImageSize); g != cfg.Vision.Grid() {
		t.Fatalf("VQ grid %d, tower grid %d", g, cfg.Vision.Grid())
	}
	dir := t.TempDir()
	if err := WriteRandom(dir, cfg, seed); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openJanusPolicy(t *testing.T, dir string, parts ...string) *Policy {
	t.Helper()
	p, err := OpenPolicy(dir, gotch.CPU, parts...)
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
	v := make([]float32, hf.Numel(sh))
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
