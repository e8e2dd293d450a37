package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// put writes a file under dir, creating its folders.
func put(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// steps writes n metric lines; the first warm ones take warmTime, the others stepTime split
// into rollout, reward and update as given, with tokens sampled tokens per step.
func steps(n, warm int, warmTime, rollout, reward, update, tokens float64) string {
	var b strings.Builder
	for s := 1; s <= n; s++ {
		ro, rw, up := rollout, reward, update
		if s <= warm {
			ro, rw, up = warmTime, 0, 0
		}
		fmt.Fprintf(&b, `{"step":%d,"step_time":%g,"rollout_time":%g,"reward_time":%g,"update_time":%g,"tokens":%g,"samples":64}`+"\n",
			s, ro+rw+up, ro, rw, up, tokens)
	}
	return b.String()
}

func bw(impl string, sizes []int, gbps []float64, prefix string) string {
	var b strings.Builder
	b.WriteString("launch: started ranks 0-1 of 2\n") // log lines are ignored
	for i, s := range sizes {
		fmt.Fprintf(&b, `%s{"op":"allreduce","impl":"%s","bytes":%d,"ranks":2,"busbw_GBps":%g,"correct":true}`+"\n", prefix, impl, s, gbps[i])
	}
	return b.String()
}

var sizes = []int{64 << 10, 1 << 20, 4 << 20, 16 << 20}

// fakeRun writes a complete run folder with known numbers.
func fakeRun(t *testing.T) string {
	dir := t.TempDir()
	put(t, dir, "env.json", `{"date":"today","cores":2,"blas":"/usr/lib/openblas/libblas.so.3","libtorch":"1.13.1","batch":8,"group":8}`)
	put(t, dir, "phases.jsonl", `{"phase":"build","start_unix":100,"loadavg":"1.0 1.0 1.0"}`+"\n"+`{"phase":"done","start_unix":160,"loadavg":"2.0 1.5 1.0"}`+"\n")
	// Go: 0.1 rollout + 0.02 reward + 0.08 update = 0.2 s, 100 tokens; two runs.
	put(t, dir, "trainer/go-1/metrics.jsonl", steps(10, 2, 9, 0.1, 0.02, 0.08, 100))
	put(t, dir, "trainer/go-2/metrics.jsonl", steps(10, 2, 9, 0.1, 0.02, 0.08, 100))
	put(t, dir, "trainer/go-1.time.json", `{"wall_s":2,"user_s":1.5,"sys_s":0.5}`)
	put(t, dir, "trainer/go-2.time.json", `{"wall_s":2,"user_s":1.5,"sys_s":0.5}`)
	// PyTorch: 0.3 rollout + 0.04 reward + 0.26 update = 0.6 s, 200 tokens.
	put(t, dir, "trainer/torch-1.jsonl", steps(10, 2, 9, 0.3, 0.04, 0.26, 200))
	put(t, dir, "trainer/torch-1.time.json", `{"wall_s":6,"user_s":5,"sys_s":0}`)
	// Two rounds of the ring: the best per size is kept.
	put(t, dir, "collective/ring.jsonl", bw("ring", sizes, []float64{0.5, 1, 1, 1}, "[rank 0] ")+bw("ring", sizes, []float64{0.4, 3, 4, 2}, "[rank 0] "))
	put(t, dir, "collective/gloo.jsonl", bw("gloo", sizes, []float64{0.1, 1, 1, 1}, ""))
	put(t, dir, "collective/openmpi.jsonl", bw("openmpi", sizes[1:], []float64{6, 5, 2}, ""))
	// Scaling: 1 rank 0.4 s per step, 2 ranks 0.25 s.
	put(t, dir, "scaling/np1-1/metrics.jsonl", steps(8, 2, 5, 0.2, 0, 0.2, 100))
	put(t, dir, "scaling/np2-1/metrics.jsonl", steps(8, 2, 5, 0.1, 0, 0.15, 100))
	// Memory: rank 0 100 -> 110 MiB, rank 1 flat at 200.
	var mem strings.Builder
	for s := 10; s <= 100; s += 10 {
		fmt.Fprintf(&mem, `{"step":%d,"dev_cpu0_mem_used_mib":%d,"dev_cpu1_mem_used_mib":200}`+"\n", s, 100+(min(s, 50)-10)/4)
	}
	put(t, dir, "memory/metrics.jsonl", mem.String())
	return dir
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestBuildRatios(t *testing.T) {
	dir := fakeRun(t)
	s, err := build(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Missing) != 0 {
		t.Fatalf("missing sections: %v", s.Missing)
	}
	tr := s.Trainer
	if tr.Go.Steps != 16 || tr.Torch.Steps != 8 {
		t.Errorf("measured steps %d (Go), %d (PyTorch); want 16 and 8 (2 warm-up steps left out per run)", tr.Go.Steps, tr.Torch.Steps)
	}
	for k, want := range map[string]float64{
		"step_mean":            3,                           // 0.6 s / 0.2 s
		"model_mean":           0.56 / 0.18,                 // step - reward
		"rollout_mean":         3,                           // 0.3 s / 0.1 s
		"rollout_tokens_per_s": 1.5,                         // 100 / 0.1 s over 200 / 0.3 s
		"model_per_100_tokens": (0.56 / 200) / (0.18 / 100), // per sampled token
	} {
		if got := float64(tr.Speedup[k]); !near(got, want) {
			t.Errorf("speedup %s = %v, want %v", k, got, want)
		}
	}
	if !near(tr.Go.Step.Mean, 0.2) || !near(tr.Torch.Step.Median, 0.6) {
		t.Errorf("step times %v (Go mean), %v (PyTorch median); want 0.2 and 0.6", tr.Go.Step.Mean, tr.Torch.Step.Median)
	}
	if c := tr.Go.CPU; c == nil || c.Steps != 20 || !near(c.SysMsPerStep, 50) || !near(c.UserMsPerStep, 150) {
		t.Errorf("Go CPU time %+v; want 20 steps, 150 ms user and 50 ms system per step", c)
	}

	c := s.Collective
	if got := c.BusBW[implRing][4<<20]; got != 4 {
		t.Errorf("ring at 4 MB: %v, want the best round's 4", got)
	}
	if got := c.BusBW[implRing][64<<10]; got != 0.5 {
		t.Errorf("ring at 64 KB: %v, want the best round's 0.5", got)
	}
	if c.Rounds[implRing] != 2 || c.Rounds[implGloo] != 1 {
		t.Errorf("rounds %v, want ring 2 and gloo 1", c.Rounds)
	}
	if got := float64(c.RingOverGloo[1<<20]); got != 3 {
		t.Errorf("ring/gloo at 1 MB = %v, want 3", got)
	}
	if got := float64(c.RingOverMPI[64<<10]); !math.IsNaN(got) {
		t.Errorf("ring/openmpi at 64 KB = %v, want NaN (OpenMPI did not run that size)", got)
	}
	if w, at := worstRatio(c, c.RingOverMPI); w != 0.5 || at != 1<<20 {
		t.Errorf("worst ring/openmpi over 1-16 MB = %v at %d, want 0.5 at 1 MB", w, at)
	}

	if got := float64(s.Scaling.Speedup[2]); !near(got, 1.6) {
		t.Errorf("2-rank speedup %v, want 1.6 (0.4 s / 0.25 s per step)", got)
	}
	m := s.Memory
	if len(m.Ranks) != 2 || !near(m.Ranks[0].GrowthPct, 10) || m.Ranks[1].GrowthPct != 0 || m.Steps != 100 {
		t.Fatalf("memory %+v; want rank 0 +10%%, rank 1 flat, 100 steps", m.Ranks)
	}
	if r := m.Ranks[0]; r.MidStep != 50 || r.SecondHalfPct != 0 {
		t.Errorf("rank 0 second half: from step %v, %v%%; want step 50, 0%%", r.MidStep, r.SecondHalfPct)
	}

	v := map[string]string{}
	for _, x := range verdicts(s) {
		v[x.What] = x.Met
	}
	for what, want := range map[string]string{
		"GRPO step time, PyTorch / Go (mean)":                      "yes",
		"Ring / gloo bus bandwidth, worst of 1-16 MB (at 16 MB)":   "yes", // exactly 2x meets 2x
		"Ring / OpenMPI bus bandwidth, worst of 1-16 MB (at 1 MB)": "no",
		"GRPO samples/s, 2 ranks / 1 rank (same global batch)":     "no",
	} {
		if v[what] != want {
			t.Errorf("verdict %q: met %q, want %q (all: %v)", what, v[what], want, v)
		}
	}
}

func TestWriteOutputs(t *testing.T) {
	dir := fakeRun(t)
	s, err := build(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(dir, s); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| GRPO step time, PyTorch / Go (mean) | 3.00x | >= 1.5x | yes |",
		"/usr/lib/openblas/libblas.so.3", "| 1 MB | 3.00 | 6.00 | 1.00 | 3.00x | 0.50x |",
		"![collective](collective.png)", "| 2 | 256.0 |", "+10.0%", "2.0 1.5 1.0"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	// The missing OpenMPI size is a null ratio, not an error.
	if r := back["collective"].(map[string]any)["ring_over_openmpi"].(map[string]any); r["65536"] != nil {
		t.Errorf("ring_over_openmpi at 64 KB = %v, want null", r["65536"])
	}
	for _, png := range []string{"trainer.png", "collective.png", "scaling.png", "memory.png"} {
		b, err := os.ReadFile(filepath.Join(dir, png))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", png)
		}
	}
}

func TestMissingParts(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "collective/gloo.jsonl", bw("gloo", sizes, []float64{1, 1, 1, 1}, ""))
	s, err := build(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"env", "trainer", "collective", "scaling", "memory"} {
		if s.Missing[k] == "" {
			t.Errorf("section %s not reported missing (missing: %v)", k, s.Missing)
		}
	}
	if !strings.Contains(s.Missing["collective"], "ring.jsonl") {
		t.Errorf("collective: %q does not name the missing ring file", s.Missing["collective"])
	}
	if err := write(dir, s); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !bytes.Contains(md, []byte("Not measured in this run")) {
		t.Errorf("report.md does not say what was not measured:\n%s", md)
	}
}

func TestBadInput(t *testing.T) {
	dir := fakeRun(t)
	// Warm-up covering every step leaves nothing to measure.
	if _, err := compareTrainers(filepath.Join(dir, "trainer"), 10); err == nil || !strings.Contains(err.Error(), "no steps after the 10 warm-up steps") {
		t.Errorf("warm-up of every step: err %v", err)
	}
	put(t, dir, "trainer/torch-2.jsonl", `{"step":1,"step_time":0.5,"rollout_time":0.1}`+"\n")
	if _, err := compareTrainers(filepath.Join(dir, "trainer"), 0); err == nil || !strings.Contains(err.Error(), "has no reward_time") {
		t.Errorf("a step without reward_time: err %v", err)
	}
	put(t, dir, "collective/gloo.jsonl", "{\"bytes\":1024,\"busbw_GBps\":1}\n{\"bytes\": oops}\n")
	if _, err := compareCollectives(filepath.Join(dir, "collective")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a damaged bandwidth line: err %v", err)
	}
	if _, err := build(filepath.Join(dir, "nope"), 5); err == nil {
		t.Error("a missing run folder gave no error")
	}
	if _, err := build(dir, -1); err == nil {
		t.Error("a negative warm-up gave no error")
	}
}

func TestStat(t *testing.T) {
	if s := statOf([]float64{3, 1, 2}); s.Mean != 2 || s.Median != 2 {
		t.Errorf("odd: %+v", s)
	}
	if s := statOf([]float64{4, 1, 10, 2}); s.Mean != 4.25 || s.Median != 3 {
		t.Errorf("even: %+v", s)
	}
	if s := statOf(nil); !math.IsNaN(s.Mean) {
		t.Errorf("empty: %+v", s)
	}
}
