package hf

import (
	"cmp"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// drawRows runs DeviceDraw on logits [N*V] with uniforms u on the CPU and returns the ids and
// log-probabilities on the host.
func drawRows(t *testing.T, d DeviceDraw, logits []float32, N, V int, u []float64, ban int) ([]int, []float64) {
	t.Helper()
	defer d.Close()
	a := raw.New(-1)
	defer a.Free()
	tok, lp := d.Draw(a, a.FromFloat32(logits, int64(N), int64(V)), u, ban)
	out := make([]float64, 2*N)
	a.CopyToFloat64(a.Cat(1, a.To(tok, raw.Float64), lp), out)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	ids, lps := make([]int, N), make([]float64, N)
	for r := range N {
		ids[r], lps[r] = int(out[2*r]), out[2*r+1]
	}
	return ids, lps
}

// testLogits are N rows of V logits with a spread like a language model's and some exact ties
// (so that tie-breaking is exercised).
func testLogits(N, V int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	l := make([]float32, N*V)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * 3)
	}
	for r := range N {
		l[r*V+3] = l[r*V+11] // a tie in every row
	}
	return l
}

// Oracle: policy.Picker, the host sampler, given the same uniforms (one generator per row,
// cloned: the device side reads its Float64 first). Greedy tokens are equal token for token; for
// the temperature, top-k, top-p (alone, and with top-k and a temperature) and the banned token,
// tokens are equal and log-probabilities within 1e-5 (float64 on both sides: they agree to
// rounding).
func TestDeviceDrawEqualsPicker(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const N, V = 64, 97
	cases := []struct {
		name string
		d    DeviceDraw
		ban  int
	}{
		{"greedy", DeviceDraw{Temp: 1, Greedy: true}, -1},
		{"greedy-ban", DeviceDraw{Temp: 0.7, Greedy: true}, 5},
		{"temperature", DeviceDraw{Temp: 1}, -1},
		{"temperature-0.6", DeviceDraw{Temp: 0.6}, -1},
		{"topk", DeviceDraw{Temp: 1.3, TopK: 5}, -1},
		{"topk-ban", DeviceDraw{Temp: 1, TopK: 3}, 2},
		{"ban", DeviceDraw{Temp: 1}, 7},
		{"topp", DeviceDraw{Temp: 1, TopP: 0.9}, -1},
		{"topp-0.3", DeviceDraw{Temp: 1, TopP: 0.3}, -1},
		{"topk-topp-temperature", DeviceDraw{Temp: 0.7, TopK: 20, TopP: 0.8}, -1},
		{"topp-ban", DeviceDraw{Temp: 1.5, TopP: 0.95}, 4},
	}
	for ci, c := range cases {
		logits := testLogits(N, V, uint64(ci))
		if c.ban >= 0 { // make the banned token the most likely in half the rows
			for r := 0; r < N; r += 2 {
				logits[r*V+c.ban] = 20
			}
		}
		u := make([]float64, N)
		var host []*rand.Rand
		for r := range N {
			seed := [2]uint64{uint64(100 + ci), uint64(r)}
			u[r] = rand.New(rand.NewPCG(seed[0], seed[1])).Float64()
			host = append(host, rand.New(rand.NewPCG(seed[0], seed[1])))
		}
		if c.d.Greedy {
			u = nil
		}
		ids, lps := drawRows(t, c.d, logits, N, V, u, c.ban)
		var pick policy.Picker
		for r := range N {
			var rng *rand.Rand
			if !c.d.Greedy {
				rng = host[r]
			}
			want, wlp := pick.Choose(logits[r*V:(r+1)*V], c.d.Temp, c.d.TopK, c.d.TopP, c.d.Greedy, rng, c.ban)
			if ids[r] != want || math.Abs(lps[r]-wlp) > 1e-5 {
				t.Fatalf("%s row %d: device %d (log-prob %.9f), host %d (%.9f)", c.name, r, ids[r], lps[r], want, wlp)
			}
			if ids[r] == c.ban {
				t.Fatalf("%s row %d: drew the banned token", c.name, r)
			}
		}
	}
}

// Oracle: the exact softmax of the row, computed in float64 here. Many uniforms over one row of
// logits draw each token with its probability (within 5 standard errors), at a temperature, among
// the top k, and among the top-p nucleus (alone and after top-k), renormalised. The row has two
// equal logits (ids 1 and 4, the most likely): top-p 0.2 keeps only the lower id.
func TestDeviceDrawDistribution(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const N, V = 20000, 12
	row := []float32{1, 2.5, 0.3, -1, 2.5, 0, 1.7, -3, 0.9, 2, -0.5, 1.1}
	logits := make([]float32, 0, N*V)
	for range N {
		logits = append(logits, row...)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	u := make([]float64, N)
	for i := range u {
		u[i] = rng.Float64()
	}
	for _, d := range []DeviceDraw{{Temp: 0.8}, {Temp: 1.2, TopK: 4}, {Temp: 0.9, TopP: 0.7},
		{Temp: 1.2, TopK: 6, TopP: 0.8}, {Temp: 1, TopP: 0.2}} {
		ids, _ := drawRows(t, d, logits, N, V, u, -1)
		p := truncatedSoftmax(row, d.Temp, d.TopK, d.TopP)
		count := make([]float64, V)
		for _, id := range ids {
			count[id]++
		}
		for i := range p {
			f := count[i] / N
			se := math.Sqrt(p[i]*(1-p[i])/N) + 1e-12
			if math.Abs(f-p[i]) > 5*se {
				t.Errorf("%+v token %d: frequency %.4f, probability %.4f", d, i, f, p[i])
			}
		}
	}
}

// truncatedSoftmax is the exact distribution of a draw: softmax(row / temp) over the topK largest
// logits (0: all; ties to the lower id), then over the fewest of those, most likely first, whose
// probability reaches topP (0 or 1: all), renormalised.
func truncatedSoftmax(row []float32, temp float64, topK int, topP float64) []float64 {
	ids := make([]int, len(row))
	for i := range ids {
		ids[i] = i
	}
	slices.SortStableFunc(ids, func(i, j int) int { return cmp.Compare(row[j], row[i]) })
	if topK > 0 {
		ids = ids[:topK]
	}
	p := make([]float64, len(row))
	sum := 0.0
	for _, i := range ids {
		p[i] = math.Exp(float64(row[i]) / temp)
		sum += p[i]
	}
	if topP > 0 && topP < 1 {
		acc := 0.0
		for j, i := range ids {
			acc += p[i] / sum
			if acc >= topP {
				for _, k := range ids[j+1:] {
					p[k] = 0
				}
				break
			}
		}
	}
	kept := 0.0
	for _, v := range p {
		kept += v
	}
	for i := range p {
		p[i] /= kept
	}
	return p
}

// Oracle: this project's earlier path, top-p off (0). Top-p 1 keeps every token, so it must draw
// exactly as before, token for token and log-probability for log-probability, on the device and
// on the host, alone and with top-k.
func TestTopPOneIsOff(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const N, V = 32, 97
	logits := testLogits(N, V, 9)
	u := make([]float64, N)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range u {
		u[i] = rng.Float64()
	}
	for _, k := range []int{0, 7} {
		ids, lps := drawRows(t, DeviceDraw{Temp: 0.9, TopK: k}, logits, N, V, u, -1)
		ids1, lps1 := drawRows(t, DeviceDraw{Temp: 0.9, TopK: k, TopP: 1}, logits, N, V, u, -1)
		if !slices.Equal(ids, ids1) || !slices.Equal(lps, lps1) {
			t.Errorf("top-k %d: device draw with top-p 1 %v %v, off %v %v", k, ids1, lps1, ids, lps)
		}
		var pick policy.Picker
		for r := range N {
			row := logits[r*V : (r+1)*V]
			a, alp := pick.Choose(row, 0.9, k, 0, false, rand.New(rand.NewPCG(8, uint64(r))), -1)
			b, blp := pick.Choose(row, 0.9, k, 1, false, rand.New(rand.NewPCG(8, uint64(r))), -1)
			if a != b || alp != blp {
				t.Errorf("top-k %d row %d: host draw with top-p 1 %d (%v), off %d (%v)", k, r, b, blp, a, alp)
			}
		}
	}
}

// Oracle: the documented range of SampleOptions.TopP (policy.CheckTopP): a Hugging Face policy's
// sampler refuses a value outside [0, 1] before any step, naming it.
func TestSamplerRejectsBadTopP(t *testing.T) {
	rngs := []*rand.Rand{rand.New(rand.NewPCG(1, 1))}
	for _, p := range []float64{-0.5, 1.01} {
		s, err := NewSampler(1, 8, policy.SampleOptions{Temperature: 1, TopP: p}, rngs, nil)
		if err == nil || !strings.Contains(err.Error(), "top-p") {
			t.Errorf("top-p %v: sampler %v, error %v; want an error naming top-p", p, s, err)
		}
	}
	s, err := NewSampler(1, 8, policy.SampleOptions{Temperature: 1, TopP: 0.9}, rngs, nil)
	if err != nil {
		t.Fatalf("top-p 0.9: %v", err)
	}
	s.Close()
}
