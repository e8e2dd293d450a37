package plots

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadMetrics(t *testing.T) {
	content := strings.Join([]string{
		`{"step": 1, "reward_mean": 0.5, "kl": 0.001, "note": "warmup NaN"}`,
		``,
		`{"step": 2, "reward_mean": NaN, "kl": null, "loss": Infinity, "flag": true}`,
		`{"step": 3, "reward_mean": 0.75, "loss": -Infinity, "grad_norm": "NaN", "nested": {"a": 1}}`,
		`{"reward_mean": 0.25}`,
		`[1, 2, 3]`,
		`{"step": 5, "reward_mean": 1e400, "length_mean": 12`,
	}, "\n")
	m, err := ReadMetrics(writeTemp(t, "metrics.jsonl", content))
	if err != nil {
		t.Fatal(err)
	}
	if m.Records != 4 {
		t.Errorf("Records = %d, want 4", m.Records)
	}
	if want := []int{6, 7}; !slices.Equal(m.Skipped, want) {
		t.Errorf("Skipped = %v, want %v", m.Skipped, want)
	}
	r := m.Series("reward_mean")
	if len(r) != 4 {
		t.Fatalf("reward_mean has %d points, want 4: %v", len(r), r)
	}
	// The fourth record has no step: its x is its record number.
	wantSteps := []float64{1, 2, 3, 4}
	for i, p := range r {
		if p.Step != wantSteps[i] {
			t.Errorf("reward_mean[%d].Step = %v, want %v", i, p.Step, wantSteps[i])
		}
	}
	if r[0].Value != 0.5 || !math.IsNaN(r[1].Value) || r[2].Value != 0.75 || r[3].Value != 0.25 {
		t.Errorf("reward_mean values = %v", r)
	}
	loss := m.Series("loss")
	if len(loss) != 2 || !math.IsInf(loss[0].Value, 1) || !math.IsInf(loss[1].Value, -1) {
		t.Errorf("loss = %v, want [+Inf -Inf]", loss)
	}
	if g := m.Series("grad_norm"); len(g) != 1 || !math.IsNaN(g[0].Value) {
		t.Errorf("grad_norm = %v, want one NaN", g)
	}
	if kl := m.Series("kl"); len(kl) != 1 {
		t.Errorf("kl = %v: null must be dropped", kl)
	}
	for _, ignored := range []string{"note", "flag", "nested", "step", "length_mean"} {
		if s := m.Series(ignored); s != nil {
			t.Errorf("series %q = %v, want none", ignored, s)
		}
	}
	want := []string{"grad_norm", "kl", "loss", "reward_mean"}
	if got := m.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

func TestReadMetricsMissingFile(t *testing.T) {
	_, err := ReadMetrics(filepath.Join(t.TempDir(), "nope.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestQuoteNonFiniteLeavesStringsAlone(t *testing.T) {
	in := `{"a":"NaN \"Infinity\" x","b":NaN,"c":-Infinity}`
	want := `{"a":"NaN \"Infinity\" x","b":"NaN","c":"-Infinity"}`
	if got := string(quoteNonFinite([]byte(in))); got != want {
		t.Errorf("quoteNonFinite = %s, want %s", got, want)
	}
}

func TestEMA(t *testing.T) {
	// window 3: alpha 0.5; bias-corrected averages by hand.
	got := EMA([]float64{1, 3, 5}, 3)
	want := []float64{1, 1.75 / 0.75, 3.375 / 0.875}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("EMA[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	flat := EMA([]float64{2, 2, 2, 2}, 10)
	for i, v := range flat {
		if math.Abs(v-2) > 1e-12 {
			t.Errorf("EMA of a constant [%d] = %v, want 2", i, v)
		}
	}
	if got := EMA([]float64{1, 5}, 1); got[1] != 5 {
		t.Errorf("window 1 must not smooth: %v", got)
	}
	if w := SmoothingWindow(300); w != 15 {
		t.Errorf("SmoothingWindow(300) = %d, want 15", w)
	}
	if w := SmoothingWindow(3); w != 1 {
		t.Errorf("SmoothingWindow(3) = %d, want 1", w)
	}
}
