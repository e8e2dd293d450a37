package captioner

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
)

// TestSampleCacheMatchesReference: sampling with the prefix computed once per image and a
// key/value cache gives the same captions, log-probs and hidden states as the reference path
// that recomputes the whole sequence for every row at every step.
func TestSampleCacheMatchesReference(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 7)
	images, _ := scenes(t, cfg, 3, 1)
	const G = 3
	for _, opt := range []SampleOptions{
		{Temperature: 1},
		{Temperature: 0.7, TopK: 5},
		{Temperature: 1.2, TopP: 0.9},
		{Greedy: true, MaxLen: 6},
	} {
		fast, err := m.Sample(images, G, opt, rowRNGs(len(images)*G, 11))
		if err != nil {
			t.Fatal(err)
		}
		slow, err := m.sample(images, G, opt, rowRNGs(len(images)*G, 11), false)
		if err != nil {
			t.Fatal(err)
		}
		distinct := map[string]bool{}
		for r := range fast.Tokens {
			if !slices.Equal(fast.Tokens[r], slow.Tokens[r]) {
				t.Fatalf("%+v row %d: cached tokens %v, reference %v", opt, r, fast.Tokens[r], slow.Tokens[r])
			}
			for i := range fast.LogProbs[r] {
				if d := math.Abs(float64(fast.LogProbs[r][i] - slow.LogProbs[r][i])); d > 1e-4 {
					t.Fatalf("%+v row %d token %d: log-prob %g vs %g", opt, r, i, fast.LogProbs[r][i], slow.LogProbs[r][i])
				}
			}
			if len(fast.Hidden[r]) != cfg.Dim {
				t.Fatalf("row %d: hidden has %d values, want %d", r, len(fast.Hidden[r]), cfg.Dim)
			}
			for i := range fast.Hidden[r] {
				if d := math.Abs(float64(fast.Hidden[r][i] - slow.Hidden[r][i])); d > 1e-3 {
					t.Fatalf("%+v row %d: hidden[%d] %g vs %g", opt, r, i, fast.Hidden[r][i], slow.Hidden[r][i])
				}
			}
			if fast.Lengths[r] != len(fast.Tokens[r]) {
				t.Fatalf("row %d: length %d for %d tokens", r, fast.Lengths[r], len(fast.Tokens[r]))
			}
			distinct[fmt.Sprint(fast.Tokens[r])] = true
		}
		if !opt.Greedy && len(distinct) < 2 {
			t.Fatalf("%+v: all %d sampled captions are identical: sampling is not using the row generators", opt, len(fast.Tokens))
		}
	}
}

// TestTeacherForcedMatchesSampler: LogProbs of sampled captions equals the sampler's per-token
// log-probs, at the sampling temperature, also when top-p cut the draw: the rollout records the
// full tempered distribution's log-probabilities, the ones the update recomputes.
func TestTeacherForcedMatchesSampler(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 3)
	images, _ := scenes(t, cfg, 2, 2)
	const G = 4
	for _, opt := range []SampleOptions{{Temperature: 1}, {Temperature: 0.6}, {Temperature: 0.8, TopP: 0.7}} {
		temp := opt.Temperature
		roll, err := m.Sample(images, G, opt, rowRNGs(len(images)*G, 5))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := m.LogProbs(images, G, roll.Tokens, temp, true)
		if err != nil {
			t.Fatal(err)
		}
		N := len(roll.Tokens)
		T := sc.T
		lp := values(t, raw.Handle(sc.LogProbs), N*T)
		mask := values(t, raw.Handle(sc.Mask), N*T)
		ent := values(t, raw.Handle(sc.Entropy), N*T)
		sc.Drop()
		total := 0
		for r := range N {
			total += roll.Lengths[r]
			for i := range T {
				inCaption := i < roll.Lengths[r]
				if (mask[r*T+i] == 1) != inCaption {
					t.Fatalf("row %d position %d: mask %g, caption length %d", r, i, mask[r*T+i], roll.Lengths[r])
				}
				if !inCaption {
					if lp[r*T+i] != 0 || ent[r*T+i] != 0 {
						t.Fatalf("row %d position %d past the caption: log-prob %g, entropy %g, want 0", r, i, lp[r*T+i], ent[r*T+i])
					}
					continue
				}
				if d := math.Abs(float64(lp[r*T+i] - roll.LogProbs[r][i])); d > 1e-4 {
					t.Fatalf("temp %g row %d token %d: teacher-forced %g, sampler %g", temp, r, i, lp[r*T+i], roll.LogProbs[r][i])
				}
				// PAD and BOS are never predicted, so at most V-2 tokens share the mass.
				if e := ent[r*T+i]; e < 0 || float64(e) > math.Log(float64(cfg.Vocab-2))+1e-4 {
					t.Fatalf("row %d token %d: entropy %g outside [0, log(V-2)]", r, i, e)
				}
			}
		}
		if sc.Tokens != total {
			t.Fatalf("Scores.Tokens = %d, want %d", sc.Tokens, total)
		}
	}
}

// TestSampleRowsIndependentOfBatch: a row's caption depends on its image and generator only,
// not on which other images share the batch.
func TestSampleRowsIndependentOfBatch(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 5)
	images, _ := scenes(t, cfg, 3, 9)
	const G = 2
	rngs := rowRNGs(6, 21)
	all, err := m.Sample(images, G, SampleOptions{Temperature: 1}, rngs)
	if err != nil {
		t.Fatal(err)
	}
	again := rowRNGs(6, 21)
	one, err := m.Sample(images[1:2], G, SampleOptions{Temperature: 1}, again[2:4])
	if err != nil {
		t.Fatal(err)
	}
	for g := range G {
		if !slices.Equal(all.Tokens[2+g], one.Tokens[g]) {
			t.Fatalf("sample %d of image 1: %v in a batch of 3 images, %v alone", g, all.Tokens[2+g], one.Tokens[g])
		}
	}
}

// TestTopOneIsGreedy: top-k sampling with k = 1 always takes the greedy token.
func TestTopOneIsGreedy(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 8)
	images, _ := scenes(t, cfg, 2, 4)
	greedy, err := m.Sample(images, 2, SampleOptions{Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	top1, err := m.Sample(images, 2, SampleOptions{Temperature: 1.3, TopK: 1}, rowRNGs(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	for r := range greedy.Tokens {
		if !slices.Equal(greedy.Tokens[r], top1.Tokens[r]) {
			t.Fatalf("row %d: greedy %v, top-1 %v", r, greedy.Tokens[r], top1.Tokens[r])
		}
	}
}

// TestSampleStopsAndNeverEmitsSpecials: captions end at EOS or at MaxLen (Truncated), and never
// hold PAD or BOS.
func TestSampleStopsAndNeverEmitsSpecials(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 2)
	images, _ := scenes(t, cfg, 4, 6)
	const maxLen = 5
	roll, err := m.Sample(images, 4, SampleOptions{Temperature: 2, MaxLen: maxLen}, rowRNGs(16, 3))
	if err != nil {
		t.Fatal(err)
	}
	ended, truncated := 0, 0
	for r, toks := range roll.Tokens {
		if len(toks) == 0 || len(toks) > maxLen {
			t.Fatalf("row %d: %d tokens, want 1..%d", r, len(toks), maxLen)
		}
		for i, id := range toks {
			if id == cfg.PAD || id == cfg.BOS {
				t.Fatalf("row %d token %d is %d (PAD or BOS)", r, i, id)
			}
			if id == cfg.EOS && i != len(toks)-1 {
				t.Fatalf("row %d continues after EOS: %v", r, toks)
			}
		}
		last := toks[len(toks)-1]
		if roll.Truncated[r] != (last != cfg.EOS) || (roll.Truncated[r] && len(toks) != maxLen) {
			t.Fatalf("row %d: truncated=%v for %v", r, roll.Truncated[r], toks)
		}
		if roll.Truncated[r] {
			truncated++
		} else {
			ended++
		}
	}
	t.Logf("%d rows ended with EOS, %d truncated", ended, truncated)
}

// TestSampleMinLen: with MinLen, EOS is not drawn before a caption has MinLen tokens, while the
// reported log-probabilities stay the model's (teacher forcing gives them back); MinLen = MaxLen
// gives captions of exactly MaxLen tokens.
func TestSampleMinLen(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 2)
	images, _ := scenes(t, cfg, 4, 6)
	const G, minLen, maxLen = 4, 3, 6
	free, err := m.Sample(images, G, SampleOptions{Temperature: 2, MaxLen: maxLen}, rowRNGs(16, 3))
	if err != nil {
		t.Fatal(err)
	}
	short := 0
	for _, n := range free.Lengths {
		if n < minLen {
			short++
		}
	}
	if short == 0 {
		t.Fatal("without MinLen no caption is shorter than 3 tokens: the test shows nothing")
	}
	roll, err := m.Sample(images, G, SampleOptions{Temperature: 2, MaxLen: maxLen, MinLen: minLen}, rowRNGs(16, 3))
	if err != nil {
		t.Fatal(err)
	}
	for r, toks := range roll.Tokens {
		if len(toks) < minLen {
			t.Fatalf("row %d: %v is shorter than MinLen %d", r, toks, minLen)
		}
	}
	sc, err := m.LogProbs(images, G, roll.Tokens, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	lp := values(t, raw.Handle(sc.LogProbs), len(roll.Tokens)*sc.T)
	for r := range roll.Tokens {
		for i := range roll.Lengths[r] {
			if d := math.Abs(float64(lp[r*sc.T+i] - roll.LogProbs[r][i])); d > 1e-4 {
				t.Fatalf("row %d token %d: teacher-forced %g, sampler %g", r, i, lp[r*sc.T+i], roll.LogProbs[r][i])
			}
		}
	}
	sc.Drop()
	fixed, err := m.Sample(images, G, SampleOptions{Temperature: 2, MaxLen: maxLen, MinLen: maxLen}, rowRNGs(16, 3))
	if err != nil {
		t.Fatal(err)
	}
	for r, n := range fixed.Lengths {
		if n != maxLen {
			t.Fatalf("MinLen = MaxLen: row %d has %d tokens, want %d", r, n, maxLen)
		}
	}
	if _, err := m.Sample(images, G, SampleOptions{Temperature: 1, MaxLen: maxLen, MinLen: maxLen + 1}, rowRNGs(16, 3)); err == nil {
		t.Error("MinLen above MaxLen was accepted")
	}
}

// TestSampleRejectsBadInput: user mistakes give errors that name the problem.
func TestSampleRejectsBadInput(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 1)
	images, _ := scenes(t, cfg, 2, 1)
	bad := images[0]
	bad.H, bad.W = 32, 8
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"rng count", func() error {
			_, err := m.Sample(images, 2, SampleOptions{Temperature: 1}, rowRNGs(3, 1))
			return err
		}, "3 random generators"},
		{"temperature", func() error {
			_, err := m.Sample(images, 1, SampleOptions{}, rowRNGs(2, 1))
			return err
		}, "Temperature"},
		{"top-p", func() error {
			_, err := m.Sample(images, 1, SampleOptions{Temperature: 1, TopP: 1.5}, rowRNGs(2, 1))
			return err
		}, "top-p 1.5"},
		{"max len", func() error {
			_, err := m.Sample(images, 1, SampleOptions{Greedy: true, MaxLen: cfg.MaxLen + 1}, nil)
			return err
		}, "MaxLen"},
		{"image shape", func() error {
			_, err := m.Sample([]world.Image{images[1], bad}, 1, SampleOptions{Greedy: true}, nil)
			return err
		}, "image 1 has shape"},
		{"caption token", func() error {
			_, err := m.LogProbs(images, 1, [][]int{{5, cfg.PAD}, {5}}, 1, false)
			return err
		}, "caption 0 token 1"},
		{"early EOS", func() error {
			_, err := m.LogProbs(images, 1, [][]int{{5}, {cfg.EOS, 5}}, 1, false)
			return err
		}, "EOS at token 0"},
		{"caption count", func() error {
			_, _, err := m.Loss(images, [][]int{{5}, {6}, {7}})
			return err
		}, "3 captions for 2 images"},
		{"too long", func() error {
			_, _, err := m.Loss(images, [][]int{slices.Repeat([]int{5}, cfg.MaxLen), {5}})
			return err
		}, "more than the model's MaxLen"},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
