package eval

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The summary over seeds: mean, sample standard deviation and range of each row's metrics over
// three reports (oracle: hand-computed values: Overall 0.5, 0.6, 0.7 has mean 0.6 and sd 0.1),
// and reports of different benchmarks are refused.
func TestSummarizeSeeds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "unibench.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	row := func(o, r float64) string {
		return `{"name": "grpo", "overall": ` + ftoa(o) + `, "length_mean": 10, "object_recall": ` + ftoa(r) + `, "embedders": {"conv": ` + ftoa(o) + `}, "ci_low": {"overall": 0}}`
	}
	var paths []string
	for i, v := range [][2]float64{{0.5, 0.2}, {0.6, 0.4}, {0.7, 0.9}} {
		paths = append(paths, write("s"+ftoa(float64(i)), `{"scenes": 200, "seed": 5, "split": "benchmark", "rows": [`+row(v[0], v[1])+`]}`))
	}
	s, err := SummarizeSeeds(paths)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Rows[0].Metrics
	if st := m["overall"]; math.Abs(st.Mean-0.6) > 1e-12 || math.Abs(st.SD-0.1) > 1e-12 || st.Min != 0.5 || st.Max != 0.7 {
		t.Errorf("overall over seeds: %+v, want mean 0.6, sd 0.1, range 0.5-0.7", st)
	}
	if st := m["length_mean"]; st.Mean != 10 || st.SD != 0 {
		t.Errorf("length over seeds: %+v", st)
	}
	if _, ok := m["sim_conv"]; !ok || s.Order[0] != "overall" || s.Order[1] != "length_mean" {
		t.Errorf("metrics %v, order %v", m, s.Order)
	}
	if !strings.Contains(s.Markdown(), "| grpo | 0.600 ± 0.100 | 10.000 ± 0.000 |") {
		t.Errorf("markdown:\n%s", s.Markdown())
	}
	other := write("other", `{"scenes": 100, "seed": 5, "split": "benchmark", "rows": [`+row(0.5, 0.5)+`]}`)
	if _, err := SummarizeSeeds([]string{paths[0], other}); err == nil {
		t.Error("reports of 200 and 100 scenes were summarised together")
	}
	if _, err := SummarizeSeeds(nil); err == nil {
		t.Error("no reports accepted")
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
