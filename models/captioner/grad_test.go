package captioner

import (
	"math"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
)

// gradOf returns the gradient of parameter p, or nil when it has none.
func gradOf(t testing.TB, p *param) []float32 {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	g := a.Grad(p.h)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	if !raw.Defined(g) {
		return nil
	}
	return values(t, g, numel(p.Shape))
}

// lossValue runs Loss and returns its value (no backward).
func lossValue(t testing.TB, m *Model, images []world.Image, caps [][]int) float64 {
	t.Helper()
	loss, _, err := m.Loss(images, caps)
	if err != nil {
		t.Fatal(err)
	}
	defer loss.MustDrop()
	return float64(values(t, raw.Handle(loss), 1)[0])
}

// setParam overwrites parameter p with vals.
func setParam(t testing.TB, p *param, vals []float32) {
	t.Helper()
	a := raw.New(-1)
	prev := raw.SetGradEnabled(false)
	a.Copy(p.h, a.FromFloat32(vals, p.Shape...))
	raw.SetGradEnabled(prev)
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
}

func (m *Model) param(t testing.TB, name string) *param {
	t.Helper()
	for _, p := range m.params {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no parameter %s", name)
	return nil
}

// TestGradientsMatchFiniteDifferences: with the vision encoder frozen, Loss's backward pass
// (after the arena freed every intermediate handle) gives the LM and projector gradients that
// finite differences of the loss give, and no gradient to the vision encoder.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 4)
	if err := m.SetTrainable(false, true, true); err != nil {
		t.Fatal(err)
	}
	images, caps := scenes(t, cfg, 3, 8)
	loss, n, err := m.Loss(images, caps)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, c := range caps {
		want += len(c) + 1 // EOS appended
	}
	if n != want {
		t.Fatalf("Loss counted %d tokens, want %d", n, want)
	}
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	for _, p := range m.params {
		g := gradOf(t, p)
		if p.Group == Vision {
			if g != nil {
				t.Fatalf("frozen %s has a gradient", p.Name)
			}
			continue
		}
		if g == nil {
			t.Fatalf("trainable %s has no gradient", p.Name)
		}
	}
	for _, name := range []string{"lm.layer0.attn.qkv.weight", "lm.layer1.mlp.fc1.weight", "projector.fc.weight", "lm.pos", "lm.head.bias"} {
		p := m.param(t, name)
		g := gradOf(t, p)
		orig := values(t, p.h, numel(p.Shape))
		idx := make([]int, len(g))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(i, j int) bool { return math.Abs(float64(g[idx[i]])) > math.Abs(float64(g[idx[j]])) })
		for _, i := range idx[:3] {
			const eps = 1e-2
			w := append([]float32(nil), orig...)
			w[i] = orig[i] + eps
			setParam(t, p, w)
			up := lossValue(t, m, images, caps)
			w[i] = orig[i] - eps
			setParam(t, p, w)
			down := lossValue(t, m, images, caps)
			setParam(t, p, orig)
			num := (up - down) / (2 * eps)
			if d := math.Abs(num - float64(g[i])); d > 0.02*math.Abs(float64(g[i]))+5e-5 {
				t.Errorf("%s[%d]: autograd %g, finite difference %g", name, i, g[i], num)
			}
		}
	}
}

// TestSetTrainable: freezing a group stops its gradients; unfreezing restores them.
func TestSetTrainable(t *testing.T) {
	cfg := tinyConfig()
	images, caps := scenes(t, cfg, 2, 3)
	for _, tc := range []struct{ vision, projector, lm bool }{
		{true, true, true}, {false, false, true}, {false, true, false},
	} {
		m := newModel(t, cfg, 1)
		if err := m.SetTrainable(false, false, false); err != nil {
			t.Fatal(err)
		}
		if err := m.SetTrainable(tc.vision, tc.projector, tc.lm); err != nil {
			t.Fatal(err)
		}
		loss, _, err := m.Loss(images, caps)
		if err != nil {
			t.Fatal(err)
		}
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
		loss.MustDrop()
		want := map[Group]bool{Vision: tc.vision, Projector: tc.projector, LM: tc.lm}
		nTrainable := 0
		for _, p := range m.params {
			g := gradOf(t, p)
			if (g != nil) != want[p.Group] {
				t.Fatalf("%+v: %s has gradient %v, want %v", tc, p.Name, g != nil, want[p.Group])
			}
			if g != nil {
				nTrainable++
				nonzero := false
				for _, v := range g {
					nonzero = nonzero || v != 0
				}
				if !nonzero {
					t.Fatalf("%+v: %s has an all-zero gradient", tc, p.Name)
				}
			}
		}
		if got := len(m.TrainableParams()); got != nTrainable {
			t.Fatalf("%+v: TrainableParams lists %d, %d have gradients", tc, got, nTrainable)
		}
	}
}

// TestFrozenVisionCache: with the vision group frozen, the cached vision features give the same
// log-probs as a fresh computation, follow a change of images, and are dropped when the vision
// weights change through CopyFrom or LoadWeights.
func TestFrozenVisionCache(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 1)
	other := newModel(t, cfg, 2)
	x, _ := scenes(t, cfg, 2, 1)
	y, _ := scenes(t, cfg, 2, 2)
	caps := [][]int{{5, 6, cfg.EOS}, {7, cfg.EOS}}
	score := func(m *Model, images []world.Image) []float64 {
		s, err := m.LogProbs(images, 1, caps, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Drop()
		return s.LogProbs.Float64Values()
	}
	fresh := score(m, x)          // vision trainable: no cache
	freshOther := score(other, x) // the other model's weights
	freshY := score(m, y)
	if err := m.SetTrainable(false, true, true); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]float64{fresh, fresh, freshY, fresh} {
		images := x
		if i == 2 {
			images = y
		}
		if got := score(m, images); !slices.Equal(got, want) {
			t.Fatalf("call %d with frozen vision: %v, want %v", i, got, want)
		}
	}
	if err := m.CopyFrom(other); err != nil {
		t.Fatal(err)
	}
	if got := score(m, x); !slices.Equal(got, freshOther) {
		t.Fatalf("after CopyFrom: %v, want the other model's %v", got, freshOther)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := newModel(t, cfg, 1).Save(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadWeights(path); err != nil {
		t.Fatal(err)
	}
	if got := score(m, x); !slices.Equal(got, fresh) {
		t.Fatalf("after LoadWeights: %v, want %v", got, fresh)
	}
}

// TestLossSharedImages: Loss with G captions per image (the image prefix shared) equals Loss
// with every image repeated G times, one caption each.
func TestLossSharedImages(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 6)
	images, _ := scenes(t, cfg, 2, 7)
	caps := [][]int{{5, 9}, {6}, {7, 8, 10}, {11, cfg.EOS}, {12, 5}, {4}}
	const G = 3
	shared := lossValue(t, m, images, caps)
	var repeated []world.Image
	for _, im := range images {
		for range G {
			repeated = append(repeated, im)
		}
	}
	each := lossValue(t, m, repeated, caps)
	if math.Abs(shared-each) > 1e-5 {
		t.Fatalf("loss with shared images %g, with repeated images %g", shared, each)
	}
	// A different assignment of captions to images changes the loss (the test can fail).
	swapped := append([][]int{caps[3], caps[4], caps[5]}, caps[:3]...)
	other := lossValue(t, m, images, swapped)
	if math.Abs(other-shared) < 1e-6 {
		t.Fatalf("loss ignores which image a caption belongs to: %g vs %g", other, shared)
	}
}
