package hf

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Oracle: the decoder's forward pass without a cache over each row's whole sequence (the
// teacher-forced path of this project, itself checked against transformers). A prompt prefilled
// once and expanded to 3 rows (Stepper.RunWith), then 4 steps feeding each row its own tokens,
// gives every step's last-position logits within 1e-5 of the uncached pass, for llama (as many
// key/value heads as query heads) and qwen2 (grouped-query attention, read as stored).
func TestPreallocatedCacheMatchesUncachedForward(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range []string{"llama", "qwen2"} {
		m := loadDecoder(t, filepath.Join("testdata", "transformers", family))
		prompt := []int{1, 5, 9, 2}
		feeds := [][]int{{7, 8, 9, 10}, {11, 3, 3, 12}, {7, 2, 30, 4}} // row r's tokens
		R, P, steps := len(feeds), len(prompt), len(feeds[0])
		dec := m.NewStepper(P + steps)
		in := Batch{IDs: [][]int{prompt}, Pos: [][]int{{0, 1, 2, 3}}, Mask: [][]int{{1, 1, 1, 1}}, Last: true}
		err := dec.RunWith(1, make([]int, R), func(a *raw.Arena, c *KVCache) ([]raw.Tensor, raw.Tensor, error) {
			return m.Forward(a, in, c)
		})
		if err != nil {
			t.Fatal(err)
		}
		seqs := make([][]int, R)
		for r := range R {
			seqs[r] = append([]int(nil), prompt...)
		}
		for step := 0; ; step++ {
			got, err := dec.Logits(nil)
			if err != nil {
				t.Fatal(err)
			}
			V := len(got) / R
			for r := range R {
				want := uncachedLast(t, m, seqs[r])
				for i := range V {
					if d := math.Abs(float64(got[r*V+i] - want[i])); d > 1e-5 {
						t.Fatalf("%s step %d row %d: logit %d cached %g, uncached %g", family, step, r, i, got[r*V+i], want[i])
					}
				}
			}
			if step == steps {
				break
			}
			next := Batch{IDs: make([][]int, R), Pos: make([][]int, R), Mask: make([][]int, R)}
			for r := range R {
				seqs[r] = append(seqs[r], feeds[r][step])
				next.IDs[r], next.Pos[r] = []int{feeds[r][step]}, []int{P + step}
				next.Mask[r] = make([]int, len(seqs[r]))
				for i := range next.Mask[r] {
					next.Mask[r][i] = 1
				}
			}
			if err := dec.Step(next); err != nil {
				t.Fatal(err)
			}
		}
		dec.Close()
	}
}

// uncachedLast is the last position's logits of one row run whole, without a cache.
func uncachedLast(t *testing.T, m *Decoder, ids []int) []float32 {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	pos, mask := make([]int, len(ids)), make([]int, len(ids))
	for i := range ids {
		pos[i], mask[i] = i, 1
	}
	_, lg, err := m.Forward(a, Batch{IDs: [][]int{ids}, Pos: [][]int{pos}, Mask: [][]int{mask}, Last: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, m.Config().Vocab)
	a.CopyToFloat32(a.Contiguous(lg), out)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
