package qwenvl

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/trainer"
)

var _ trainer.Policy = (*Policy)(nil)

// qwenVLExpected is what the policy test reads of the fixture's expected.json: the prompt and
// transformers' greedy generation.
type qwenVLExpected struct {
	Inputs struct {
		Prompt string `json:"prompt"`
	} `json:"inputs"`
	Generation struct {
		Generate [][]int `json:"generate"`
	} `json:"generation"`
}

// Step 5: the policy's greedy captions are transformers' generation from image.png; sampled and
// teacher-forced log-probs agree; gradients reach the language model and not the vision tower;
// a saved policy loads back as the same model.
func TestQwenVLPolicy(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := hftest.Dir(qwenVLFamily)
	var exp qwenVLExpected
	js, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &exp); err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(dir, gotch.CPU, raw.Float32, exp.Inputs.Prompt, 64, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, h, rgb := qwenVLFixtureImage(t, dir)
	// A second image of another shape (its left 20 columns): 18 image tokens instead of 20, so
	// its rows are left-padded.
	crop := make([]uint8, 0, 3*20*h)
	for y := range h {
		crop = append(crop, rgb[3*y*w:3*(y*w+20)]...)
	}
	imgs := []images.Planar{images.FromRGB8(w, h, rgb), images.FromRGB8(20, h, crop)}
	alone := qwenVLCheckGreedy(t, p, imgs, exp, crop, h)
	qwenVLCheckSampled(t, p, imgs)

	// A saved policy is a model folder that loads back with the same weights.
	out := filepath.Join(t.TempDir(), "model.safetensors")
	if err := p.Save(out, map[string]string{"step": "3"}); err != nil {
		t.Fatal(err)
	}
	q, err := Load(filepath.Dir(out), gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	again, err := q.Generate([]Prompt{alone.prompt}, hf.GenerateOptions{MaxNew: 6, Stop: p.Stop})
	if err != nil || fmt.Sprint(again) != fmt.Sprint(alone.tokens) {
		t.Errorf("the saved model generates %v (%v), the original %v", again, err, alone.tokens)
	}
	if _, err := LoadImageProcessor(filepath.Dir(out)); err != nil {
		t.Errorf("the saved folder's image processor: %v", err)
	}
}

// qwenVLAlone is the cropped image's prompt and its greedy generation alone.
type qwenVLAlone struct {
	prompt Prompt
	tokens [][]int
}

// qwenVLCheckGreedy checks that greedy sampling of image.png is transformers' greedy generation
// and that the padded (cropped, h rows) image's rows are its own unpadded generation, which it
// returns.
func qwenVLCheckGreedy(t *testing.T, p *Policy, imgs []images.Planar, exp qwenVLExpected, crop []uint8, h int) qwenVLAlone {
	t.Helper()
	// Greedy sampling of image.png is transformers' greedy generation; the padded image's rows
	// are its own unpadded generation.
	roll, err := p.Sample(imgs, 2, policy.SampleOptions{Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	px, grid, err := p.Proc.Preprocess(20, h, crop)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := p.Proc.ExpandPrompt(exp.Inputs.Prompt, [][3]int{grid})
	ids, _ := p.Tok.Encode(text, true)
	prompt := Prompt{IDs: ids, Pixels: px, Grids: [][3]int{grid}}
	alone, err := p.Model.Generate([]Prompt{prompt}, hf.GenerateOptions{MaxNew: 6, Stop: p.Stop})
	if err != nil {
		t.Fatal(err)
	}
	for r := range roll.Tokens {
		want := exp.Generation.Generate[0]
		if r >= 2 {
			want = alone[0]
		}
		if fmt.Sprint(roll.Tokens[r]) != fmt.Sprint(want) {
			t.Errorf("greedy row %d: %v, generate %v", r, roll.Tokens[r], want)
		}
	}
	return qwenVLAlone{prompt, alone}
}

// qwenVLCheckSampled checks that sampled captions' log-probs agree with teacher forcing, which
// records a graph reaching the language model and not the frozen vision tower.
func qwenVLCheckSampled(t *testing.T, p *Policy, imgs []images.Planar) {
	t.Helper()
	// Sampled captions' log-probs agree with teacher forcing, which records a graph.
	rngs := make([]*rand.Rand, 4)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 9))
	}
	roll, err := p.Sample(imgs, 2, policy.SampleOptions{Temperature: 0.8, MinLen: 2}, rngs)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.LogProbs(imgs, 2, roll.Tokens, 0.8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	got := make([]float32, 4*sc.T)
	if err := sc.LogProbs.CopyData(got, uint(len(got))); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for r, lps := range roll.LogProbs {
		if len(roll.Hidden[r]) != 64 || roll.Lengths[r] < 2 {
			t.Errorf("row %d: hidden %d values, %d tokens", r, len(roll.Hidden[r]), roll.Lengths[r])
		}
		for i, lp := range lps {
			d := math.Abs(float64(lp - got[r*sc.T+i]))
			worst = math.Max(worst, d)
			if d > 1e-5 {
				t.Errorf("row %d token %d: sampled log-prob %v, teacher-forced %v", r, i, lp, got[r*sc.T+i])
			}
		}
	}
	t.Logf("sampled vs teacher-forced log-probs: max diff %.3g", worst)
	loss := sc.LogProbs.MustSum(gotch.Float, false)
	loss.MustBackward()
	loss.MustDrop()
	nonzero := 0
	for _, prm := range p.TrainableParams() {
		g := prm.Tensor.MustGrad(false)
		if g.MustAbs(true).MustSum(gotch.Float, true).Float64Values()[0] > 0 {
			nonzero++
		}
	}
	if n := len(p.TrainableParams()); n != len(p.Model.lm.Order()) || nonzero < n/2 {
		t.Errorf("%d of %d trainable parameters (the LM has %d) got a gradient", nonzero, n, len(p.Model.lm.Order()))
	}
	a := raw.New(-1)
	defer a.Free()
	for _, n := range p.Model.vision.names {
		x := p.Model.vision.named[n]
		if raw.RequiresGrad(x) || raw.Defined(a.Grad(x)) {
			t.Errorf("vision weight %s requires grad or has a gradient: the tower is frozen", n)
		}
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// A caption that holds the <|image_pad|> token (a policy may sample it) is scored as text: only
// the prompt's image tokens take image features.
func TestQwenVLPolicyCaptionWithImageToken(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := hftest.Dir(qwenVLFamily)
	prompt := "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in the picture?<|im_end|>\n<|im_start|>assistant\n"
	p, err := NewPolicy(dir, gotch.CPU, raw.Float32, prompt, 32, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	img := images.NewPlanar(3, 32, 32)
	for i := range img.Pix {
		img.Pix[i] = float32(i%7) / 7
	}
	pad := p.Model.Config().ImageToken
	sc, err := p.LogProbs([]images.Planar{img}, 2, [][]int{{64, pad, 220}, {pad}}, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	got := make([]float32, 2*sc.T)
	if err := sc.LogProbs.CopyData(got, uint(len(got))); err != nil {
		t.Fatal(err)
	}
	for i, v := range got[:3] {
		if !(v < 0) {
			t.Errorf("log-prob %d of the caption is %v", i, v)
		}
	}
}
