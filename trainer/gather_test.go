package trainer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Rows and texts split unevenly over 3 ranks come back whole, in order and bit for bit (float64s
// that float32 cannot hold, NaN and infinities, multi-byte UTF-8 and empty strings). Oracle: the
// unsplit input.
func TestGatherRowsAndTexts(t *testing.T) {
	const n, width = 7, 3
	want := make([][]float64, n)
	texts := make([]string, n)
	for i := range want {
		want[i] = []float64{math.Pi * float64(i+1), 1e-300 * float64(i), float64(i)}
		texts[i] = fmt.Sprintf("caption %d: ünïcode ✓ %s", i, string(make([]byte, 0, i)))
	}
	want[2][1], want[4][2], texts[3] = math.NaN(), math.Inf(-1), ""
	got := make([][][]float64, 3)
	gotTexts := make([][]string, 3)
	runRanks(t, 3, func(d *Dist) error {
		lo, hi := splitRange(n, d.Rank(), d.World())
		rows, err := d.gatherRows(want[lo:hi], n, width)
		if err != nil {
			return err
		}
		txt, err := d.gatherTexts(texts[lo:hi], n)
		got[d.Rank()], gotTexts[d.Rank()] = rows, txt
		return err
	})
	for r := range got {
		for i := range want {
			for j := range want[i] {
				if math.Float64bits(got[r][i][j]) != math.Float64bits(want[i][j]) {
					t.Fatalf("rank %d row %d value %d: %v, want %v", r, i, j, got[r][i][j], want[i][j])
				}
			}
		}
		if !reflect.DeepEqual(gotTexts[r], texts) {
			t.Fatalf("rank %d texts %q, want %q", r, gotTexts[r], texts)
		}
	}
}

// The held-out evaluation split over 2 and 4 ranks (5 images: uneven parts) gives the starting
// policy's held-out results of one rank exactly. Oracle: the evaluation on one rank.
func TestHeldOutEvaluationSplitOverRanks(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	var base []string
	for _, world := range []int{1, 2, 4} {
		c := smallGRPO(init, filepath.Join(tmp, fmt.Sprint(world)))
		c.Steps, c.EvalScenes, c.EvalEvery, c.CkptEvery = 1, 5, 1, 0
		runRanks(t, world, func(d *Dist) error { return trainWorld(c, false, d) })
		js, err := os.ReadFile(filepath.Join(c.Out, "baseline.json"))
		if err != nil {
			t.Fatal(err)
		}
		base = append(base, string(js))
	}
	for i, w := range []int{2, 4} {
		if base[i+1] != base[0] {
			t.Errorf("held-out baseline on %d ranks:\n%s\none rank:\n%s", w, base[i+1], base[0])
		}
	}
}
