package janus

import (
	"math"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// The tokenizer quantises as it decodes (vq_train.go): the codes of quantizeL2 are, for
// every latent vector, the codebook row of largest cosine (computed here in float64), they are
// EncodeImages', and decoding its straight-through zq gives DecodeCodes of those codes; Reconstruct
// is DecodeImages of EncodeImages. (Oracles: the definition of the l2 quantiser; DecodeCodes,
// checked against the reference in reference_test.go.)
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
	const E = 4
	vqCheckLargestCosine(t, zv, cb, got, codes)

	dec, err := m.DecodeCodes(codes)
	if err != nil {
		t.Fatal(err)
	}
	if worst, _ := maxDiff(t, tensorValues(t, a, m.vq.decode(a, zq)), dec); worst != 0 {
		t.Errorf("training's reconstructions and DecodeCodes differ by %.3g", worst)
	}

	vqCheckStraightThrough(t, m, zv, E)

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

// vqCheckLargestCosine checks that the codes of every latent vector of z (zv [B, E, h, w], 16
// positions), as quantizeL2 gives them (got) and as EncodeImages does (codes), are the codebook
// row (cb [32, E]) of largest cosine, computed here in float64.
func vqCheckLargestCosine(t *testing.T, zv, cb, got []float32, codes [][]int) {
	t.Helper()
	const E, n = 4, 16
	for b := range codes {
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
}

// vqCheckStraightThrough checks the straight-through estimator of quantizeL2 on latents zv
// [3, E, 4, 4]: sum(w * zq)'s gradient in z is sum(w * u)'s, u = z / |z|.
func vqCheckStraightThrough(t *testing.T, m *Model, zv []float32, E int64) {
	t.Helper()
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
}
