package lm

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// The head over a span of positions gives those positions' logits and no others: [B, Len, V]
// equal to transformers' logits there (oracle: the transformers fixture of qwen2, positions 3..6,
// real in both rows). And the batch the text policy scores with asks for the T positions that
// predict the caption, so the head runs over T rows, not P+T.
func TestForwardLogitsOfScoredSpan(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := hftest.Open(t, "qwen2")
	m, err := Load(f.Dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := raw.New(-1)
	defer a.Free()
	in := f.Exp.Inputs
	sp := hf.Span{From: 3, Len: 4}
	_, logits, err := m.Forward(a, hf.Batch{IDs: in.InputIDs, Pos: in.PositionIDs, Mask: in.AttentionMask, Logits: sp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, shape := f.Values(t, a, "logits") // [B, S, V]
	B, S, V := int(shape[0]), int(shape[1]), int(shape[2])
	if sh := a.Shape(logits); len(sh) != 3 || sh[0] != int64(B) || sh[1] != int64(sp.Len) || sh[2] != int64(V) {
		t.Fatalf("logits of span %+v: shape %v, want [%d %d %d]", sp, sh, B, sp.Len, V)
	}
	got := make([]float32, B*sp.Len*V)
	a.CopyToFloat32(a.Contiguous(logits), got)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for b := range B {
		for i := range sp.Len {
			for v := range V {
				w := want[(b*S+sp.From+i)*V+v]
				worst = math.Max(worst, math.Abs(float64(got[(b*sp.Len+i)*V+v]-w)))
			}
		}
	}
	if worst > 1e-4 {
		t.Errorf("logits of span %+v: max |Go - transformers| = %.3g", sp, worst)
	}

	p := &TextPolicy{LM: m, Prompt: []int{310, 341, 333}}
	tokens := [][]int{{5, 6}, {7, 8, 9, 10, 362}}
	batch, T := p.scoreBatch(tokens)
	if T != 5 || batch.Logits != hf.ScoredSpan(3, 5) {
		t.Fatalf("score batch: T %d, logits %+v; want 5 and %+v", T, batch.Logits, hf.ScoredSpan(3, 5))
	}
	_, lg, err := m.Forward(a, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sh := a.Shape(lg); len(sh) != 3 || sh[1] != int64(T) {
		t.Errorf("the scoring forward computes logits of shape %v: want %d positions, not %d", sh, T, 3+T)
	}
}
