package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// items returns n ratios with denominators of 0..3 (micro-averaged counts) drawn from seed.
func items(n int, seed uint64) []Ratio {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]Ratio, n)
	for i := range out {
		den := float64(rng.IntN(4))
		out[i] = Ratio{Num: math.Floor(rng.Float64() * (den + 1)), Den: den}
	}
	return out
}

// reportOf is a report of rows holding the given items of one metric.
func reportOf(n int, rows map[string][]Ratio, order ...string) *Report {
	r := &Report{Scenes: n}
	for _, name := range order {
		r.Rows = append(r.Rows, &Result{Name: name, Items: map[string][]Ratio{"object_recall": rows[name]}})
	}
	return r
}

// Two identical checkpoints: every resample draws the same scenes for both, so their paired
// difference is exactly 0 in each, and its interval is [0, 0] (oracle: exact arithmetic; x - x is
// 0 in floating point). A different row's interval contains its point difference.
func TestBootstrapIdenticalRowsDeltaIsZero(t *testing.T) {
	a := items(200, 1)
	b := items(200, 2)
	rep := reportOf(200, map[string][]Ratio{"base": a, "same": append([]Ratio(nil), a...), "other": b}, "base", "same", "other")
	if err := rep.Bootstrap(1000, 5); err != nil {
		t.Fatal(err)
	}
	d := rep.Deltas[0]
	if d.Name != "same" || d.Base != "base" || d.Delta["object_recall"] != 0 || d.CILow["object_recall"] != 0 || d.CIHigh["object_recall"] != 0 {
		t.Fatalf("identical rows: %+v", d)
	}
	o := rep.Deltas[1]
	if !(o.CILow["object_recall"] <= o.Delta["object_recall"] && o.Delta["object_recall"] <= o.CIHigh["object_recall"]) || o.CILow["object_recall"] == o.CIHigh["object_recall"] {
		t.Fatalf("other row: %+v", o)
	}
	row := rep.Rows[0]
	if !(row.CILow["object_recall"] < row.CIHigh["object_recall"]) {
		t.Fatalf("row interval %v %v", row.CILow, row.CIHigh)
	}
	if err := rep.Bootstrap(-1, 5); err == nil {
		t.Error("negative resamples accepted")
	}
	short := reportOf(200, map[string][]Ratio{"base": a, "cut": a[:199]}, "base", "cut")
	if err := short.Bootstrap(10, 5); err == nil {
		t.Error("a row with fewer items than scenes was accepted")
	}
}

// A bootstrap with a fixed seed is reproducible: the same seed gives the same intervals bit for
// bit, another seed other ones (oracle: the definition, a PCG keyed by the seed).
func TestBootstrapReproducible(t *testing.T) {
	a, b := items(100, 3), items(100, 4)
	run := func(seed uint64) *Report {
		rep := reportOf(100, map[string][]Ratio{"a": a, "b": b}, "a", "b")
		if err := rep.Bootstrap(500, seed); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	x, y, z := run(9), run(9), run(10)
	js := func(r *Report) string { s, _ := json.Marshal(r); return string(s) }
	if js(x) != js(y) {
		t.Fatalf("same seed, different reports:\n%s\n%s", js(x), js(y))
	}
	if js(x) == js(z) {
		t.Fatal("seeds 9 and 10 gave the same intervals")
	}
	if !strings.Contains(js(x), `"ci_low":{"object_recall"`) || !strings.Contains(js(x), `"deltas":[{"name":"b","base":"a"`) {
		t.Fatalf("unibench.json lacks ci_low or deltas: %s", js(x))
	}
}

// Exact small cases: one scene makes every resample the whole set, so the interval is the value
// itself; Percentile interpolates between order statistics as numpy's default does.
func TestIntervalExactCases(t *testing.T) {
	one := []Ratio{{Num: 2, Den: 3}}
	lo, hi := Interval(one, Resamples(1, 50, 1))
	if lo != 2.0/3 || hi != 2.0/3 {
		t.Fatalf("one scene: [%v, %v], want [2/3, 2/3]", lo, hi)
	}
	if got := Percentile([]float64{4, 1, 3, 2}, 0.5); got != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", got)
	}
	if got := Percentile([]float64{0, 10}, 0.025); math.Abs(got-0.25) > 1e-15 {
		t.Errorf("2.5th percentile of {0, 10} = %v, want 0.25", got)
	}
	if got := Percentile([]float64{5}, 0.975); got != 5 {
		t.Errorf("percentile of one value = %v", got)
	}
}

// The intervals against numpy (oracle: numpy through /usr/bin/python3): for the same resamples
// numpy pools each resample (sum of numerators over sum of denominators) and takes the 2.5th and
// 97.5th percentiles (np.percentile, linear); the row interval and the paired difference's
// agree to 1e-12.
func TestIntervalMatchesNumpy(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skip("no numpy")
	}
	a, b := items(150, 11), items(150, 12)
	res := Resamples(150, 400, 3)
	lo, hi := Interval(a, res)
	dlo, dhi := PairedInterval(a, b, res)
	in := map[string]any{"a": a, "b": b, "res": res}
	js, _ := json.Marshal(in)
	path := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys, numpy as np
d = json.load(open(sys.argv[1]))
num = lambda rs: np.array([r["Num"] for r in rs]); den = lambda rs: np.array([r["Den"] for r in rs])
res = np.array(d["res"])
def pooled(rs):
    n, m = num(rs)[res].sum(axis=1), den(rs)[res].sum(axis=1)
    return np.where(m == 0, 0.0, n / np.where(m == 0, 1, m))
va, vb = pooled(d["a"]), pooled(d["b"])
print(*[repr(float(x)) for x in (np.percentile(va, 2.5), np.percentile(va, 97.5), np.percentile(vb - va, 2.5), np.percentile(vb - va, 97.5))])
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 {
		t.Fatalf("numpy printed %q", out)
	}
	for i, got := range []float64{lo, hi, dlo, dhi} {
		want, _ := strconv.ParseFloat(f[i], 64)
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("bound %d: %v, numpy %v", i, got, want)
		}
	}
}
