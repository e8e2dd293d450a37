package embed

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/vec"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
)

func mustAll(t testing.TB, cfg world.Config) []reward.Embedder {
	t.Helper()
	es, err := All(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestByNames(t *testing.T) {
	cfg := world.DefaultConfig()
	es, err := ByNames(cfg, "edge, conv")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Name() != "edge" || es[1].Name() != "conv" {
		t.Fatalf("ByNames(edge, conv) gave %v", es)
	}
	_, err = ByNames(cfg, "conv,clip")
	if err == nil || !strings.Contains(err.Error(), `"clip"`) || !strings.Contains(err.Error(), "conv, colour, edge") {
		t.Fatalf("unknown name error = %v", err)
	}
	if _, err := ByNames(world.Config{Size: 4, MinObjects: 1, MaxObjects: 1}, "conv"); err == nil || !strings.Contains(err.Error(), "world size 4") {
		t.Fatalf("bad config error = %v", err)
	}
	if _, err := New(cfg, "conv,edge"); err == nil {
		t.Fatal("New accepted a list")
	}
	e, err := New(cfg, "colour")
	if err != nil || e.Name() != "colour" {
		t.Fatalf("New(colour) = %v, %v", e, err)
	}
	var names []string
	for _, e := range mustAll(t, cfg) {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, Names()) || len(names) < 3 {
		t.Fatalf("All gave %v, Names() = %v", names, Names())
	}
}

func TestEmbedProperties(t *testing.T) {
	cfg := world.DefaultConfig()
	rng := rand.New(rand.NewPCG(1, 1))
	a, b := cfg.Render(cfg.Sample(rng)), cfg.Render(cfg.Sample(rng))
	for _, e := range mustAll(t, cfg) {
		va := e.Embed(a)
		if len(va) != e.Dim() {
			t.Fatalf("%s: embedding of length %d, Dim() %d", e.Name(), len(va), e.Dim())
		}
		norm := 0.0
		for _, x := range va {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-4 {
			t.Errorf("%s: squared norm %v, want 1", e.Name(), norm)
		}
		if !reflect.DeepEqual(va, e.Embed(a)) {
			t.Errorf("%s: not deterministic", e.Name())
		}
		if r := reward.MeanReward([]reward.Embedder{e}, a, a); math.Abs(r-1) > 1e-5 {
			t.Errorf("%s: reward of an image with itself %v", e.Name(), r)
		}
		if r := reward.MeanReward([]reward.Embedder{e}, a, b); r > 0.9 {
			t.Errorf("%s: two different scenes score %v", e.Name(), r)
		}
		for _, bad := range []world.Image{{}, {C: 1, H: 32, W: 32, Pix: make([]float32, 1024)}, {C: 3, H: 32, W: 32, Pix: make([]float32, 10)}} {
			if v := e.Embed(bad); len(v) != e.Dim() || vec.Cosine(v, v) != 0 {
				t.Errorf("%s: malformed image did not embed to zeros", e.Name())
			}
		}
	}
}

// TestCentred checks that fresh prior scenes average to nearly the zero
// embedding; uncentred features of scenes this alike would average to a
// vector of norm near 1.
func TestCentred(t *testing.T) {
	cfg := world.DefaultConfig()
	rng := rand.New(rand.NewPCG(99, 7))
	ims := make([]world.Image, 300)
	for i := range ims {
		ims[i] = cfg.Render(cfg.Sample(rng))
	}
	for _, e := range mustAll(t, cfg) {
		mean := make([]float64, e.Dim())
		for _, im := range ims {
			for j, x := range e.Embed(im) {
				mean[j] += float64(x) / float64(len(ims))
			}
		}
		norm := 0.0
		for _, m := range mean {
			norm += m * m
		}
		if norm = math.Sqrt(norm); norm > 0.25 {
			t.Errorf("%s: mean embedding of prior scenes has norm %.3f; not centred", e.Name(), norm)
		}
	}
}

// TestOtherSizes builds the embedders for other canvas sizes and checks that
// the reward still separates the oracle from the empty caption.
func TestOtherSizes(t *testing.T) {
	for _, size := range []int{16, 24, 48, 64} {
		cfg := world.Config{Size: size, MinObjects: 1, MaxObjects: 4, Jitter: 0}
		es := mustAll(t, cfg)
		probes := []Probe{HonestProbes()[0], HonestProbes()[3]}
		tb, err := MeasureProbes(cfg, es, probes, 30, 5)
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range es {
			if d := e.Dim(); d == 0 {
				t.Fatalf("size %d: %s has no dimensions", size, e.Name())
			}
			if empty, oracle := tb.Rows[0].Rewards[k], tb.Rows[1].Rewards[k]; oracle < empty+0.4 {
				t.Errorf("size %d, %s: oracle %.3f vs empty %.3f", size, e.Name(), oracle, empty)
			}
		}
	}
}

func TestRewardTableErrors(t *testing.T) {
	cfg := world.DefaultConfig()
	es, err := ByNames(cfg, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RewardTable(cfg, es, 0, 1); err == nil || !strings.Contains(err.Error(), "0 scenes") {
		t.Errorf("zero scenes: %v", err)
	}
	if _, err := RewardTable(cfg, nil, 5, 1); err == nil || !strings.Contains(err.Error(), "no embedders") {
		t.Errorf("no embedders: %v", err)
	}
	if _, err := RewardTable(world.Config{Size: 32}, es, 5, 1); err == nil || !strings.Contains(err.Error(), "min objects") {
		t.Errorf("bad config: %v", err)
	}
	md, err := RewardTable(cfg, es, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| edge | mean |", "| empty |", "| oracle |", "| 40 random tokens |", "3 scenes"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}

// TestConcurrentEmbed embeds from several goroutines at once (run with -race)
// and checks the results match a sequential pass.
func TestConcurrentEmbed(t *testing.T) {
	cfg := world.DefaultConfig()
	es := mustAll(t, cfg)
	rng := rand.New(rand.NewPCG(4, 4))
	ims := make([]world.Image, 16)
	want := make([][][]float32, len(ims))
	for i := range ims {
		ims[i] = cfg.Render(cfg.Sample(rng))
		for _, e := range es {
			want[i] = append(want[i], e.Embed(ims[i]))
		}
	}
	got := make([][][]float32, len(ims))
	done := make(chan int)
	for i := range ims {
		go func() {
			for _, e := range es {
				got[i] = append(got[i], e.Embed(ims[i]))
			}
			done <- i
		}()
	}
	for range ims {
		<-done
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("concurrent embeddings differ from sequential ones")
	}
}
