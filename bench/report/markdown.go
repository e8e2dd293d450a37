package main

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// markdown renders report.md; charts are the PNG file names drawn next to it.
func markdown(s *Summary, charts map[string]string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmark report (`make bench`)\n\n")
	e := s.Env
	p("%s on %s: %s, %d cores, %s GiB; commit %s.\n\n", orNA(e.Date), orNA(e.Host), orNA(e.CPU), e.Cores, orNA(e.MemoryGiB), orNA(e.Commit))
	p("Ratios are written so that above 1 favours this project. The machine may be shared: see the load averages below, and compare numbers only within this run.\n\n")

	p("## Summary\n\n| Comparison | Measured | Target | Met |\n|---|---:|---:|:---:|\n")
	for _, v := range verdicts(s) {
		p("| %s | %s | %s | %s |\n", v.What, v.Measured, orDash(v.Target), orDash(v.Met))
	}
	p("\n")
	if len(s.Missing) > 0 {
		p("Not measured in this run:\n\n")
		names := make([]string, 0, len(s.Missing))
		for k := range s.Missing {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p("- %s: %s\n", k, s.Missing[k])
		}
		p("\n")
	}

	p("## Environment\n\n| | |\n|---|---|\n")
	p("| BLAS (libblas.so.3 alternative) | `%s` |\n", orNA(e.BLAS))
	p("| libtorch (gotch's, Debian libtorch-dev) | %s |\n", orNA(e.Libtorch))
	p("| PyTorch (/usr/bin/python3, python3-torch) | %s |\n", orNA(e.TorchPython))
	p("| OpenMPI | %s |\n| Go | %s |\n", orNA(e.OpenMPI), orNA(e.Go))
	p("| Threads | 1 per process (torch.set_num_threads(1), --threads 1, OMP/OPENBLAS_NUM_THREADS=1) |\n")
	p("| Start checkpoint | `%s` |\n\n", orNA(e.Checkpoint))
	if len(s.Phases) > 0 {
		p("| Phase | Started at | Load average (1, 5, 15 min) at its start |\n|---|---:|---|\n")
		t0 := s.Phases[0].StartUnix
		for _, ph := range s.Phases {
			p("| %s | +%s | %s |\n", ph.Name, time.Duration((ph.StartUnix-t0)*float64(time.Second)).Round(time.Second), ph.LoadAvg)
		}
		p("\n")
	}

	if t := s.Trainer; t != nil {
		trainerSection(p, s, t, charts["trainer"])
	}
	if c := s.Collective; c != nil {
		collectiveSection(p, c, charts["collective"])
	}
	if sc := s.Scaling; sc != nil {
		p("## 3. Scaling: GRPO on 1 vs 2 ranks\n\n")
		p("`launch -np N trainer train` at the same global batch (B=%d scenes x G=%d captions per step, split over the ranks), the first %d steps of every run left out; samples/s = trajectories over step time.\n\n", e.Batch, e.Group, s.Warmup)
		p("| Ranks | Samples/s | Step time mean (ms) | Step time median (ms) | Speedup over 1 rank |\n|---:|---:|---:|---:|---:|\n")
		for _, np := range keys(sc.SamplesPerS) {
			st := sc.StepTime[np]
			p("| %d | %.1f | %.1f | %.1f | %s |\n", np, sc.SamplesPerS[np], 1e3*st.Mean, 1e3*st.Median, fx(float64(sc.Speedup[np])))
		}
		p("\n")
		if f := charts["scaling"]; f != "" {
			p("![scaling](%s)\n\n", f)
		}
	}
	if m := s.Memory; m != nil {
		p("## 4. Memory: resident set per rank over %.0f GRPO steps\n\n", m.Steps)
		p("From the trainer's own CPU monitor (dev_cpuN_mem_used_mib in `%s`).\n\n", filepath.ToSlash(m.Path))
		p("| Rank | First reading (MiB, step) | Mid-run reading (MiB, step) | Last reading (MiB, step) | Max (MiB) | Growth first to last | Growth mid to last |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range m.Ranks {
			p("| %d | %.1f (step %.0f) | %.1f (step %.0f) | %.1f (step %.0f) | %.1f | %+.1f%% | %+.1f%% |\n", r.Rank, r.First, r.FirstStep, r.Mid, r.MidStep, r.Last, r.LastStep, r.Max, r.GrowthPct, r.SecondHalfPct)
		}
		p("\n")
		if f := charts["memory"]; f != "" {
			p("![memory](%s)\n\n", f)
		}
	}
	return b.String()
}

func trainerSection(p func(string, ...any), s *Summary, t *TrainerCompare, chart string) {
	p("## 1. Trainer: Go (gotch) vs PyTorch, one GRPO step\n\n")
	p("Both start from the same Go checkpoint and run the same GRPO step: B=%d scenes x G=%d captions, temperature 1, beta 0.01 (a reference forward), seq-mean-token-mean loss, vision frozen, AdamW with gradient clipping, float32, one thread. ", s.Env.Batch, s.Env.Group)
	p("The PyTorch side (bench/torch/grpo.py) uses models/captioner/testdata/reference.py's network with a KV cache, torch.no_grad for sampling and the reference, frozen vision features and prefix keys/values computed once per image. ")
	p("Its reward is the Go reward itself, served by bench/rewardenv over a pipe (same scenes, decoder and embedders), so reward time is shown apart and *model time* = step time - reward time compares the policy work alone. ")
	p("Runs alternate Go, PyTorch, PyTorch, Go; the first %d steps of every run are left out (Go: %d measured steps in %d runs, PyTorch: %d in %d).\n\n", s.Warmup, t.Go.Steps, len(t.Go.Runs), t.Torch.Steps, len(t.Torch.Runs))
	g, py := t.Go, t.Torch
	p("| Per step | Go | PyTorch | PyTorch / Go |\n|---|---:|---:|---:|\n")
	row := func(name string, a, b Stat) {
		p("| %s, mean (median) ms | %.1f (%.1f) | %.1f (%.1f) | %s (%s) |\n", name, 1e3*a.Mean, 1e3*a.Median, 1e3*b.Mean, 1e3*b.Median, fx(ratio(b.Mean, a.Mean)), fx(ratio(b.Median, a.Median)))
	}
	row("Step time", g.Step, py.Step)
	row("Rollout (sampling)", g.Rollout, py.Rollout)
	row("Reward (Go env; PyTorch via pipe)", g.Reward, py.Reward)
	row("Update (ref + fwd/bwd + AdamW)", g.Update, py.Update)
	row("Model time (step - reward)", g.Model, py.Model)
	p("| Sampled tokens per step | %.1f | %.1f | |\n", g.TokensPerStep, py.TokensPerStep)
	p("| Model ms per 100 sampled tokens | %.1f | %.1f | %s |\n", g.ModelMsPer100Tokens, py.ModelMsPer100Tokens, fx(float64(t.Speedup["model_per_100_tokens"])))
	p("| Rollout tokens/s (Go / PyTorch in last column) | %.0f | %.0f | %s |\n", g.RolloutTokensPerS, py.RolloutTokensPerS, fx(float64(t.Speedup["rollout_tokens_per_s"])))
	p("| Samples/s over the whole step (Go / PyTorch) | %.1f | %.1f | %s |\n\n", g.SamplesPerS, py.SamplesPerS, fx(float64(t.Speedup["samples_per_s_overall"])))
	share := func(x TrainerSide) string {
		pct := func(v float64) float64 { return math.Max(0, math.Round(100*v/x.Step.Mean)) }
		return fmt.Sprintf("rollout %.0f%%, reward %.0f%%, update %.0f%%, other %.0f%%",
			pct(x.Rollout.Mean), pct(x.Reward.Mean), pct(x.Update.Mean),
			pct(x.Step.Mean-x.Rollout.Mean-x.Reward.Mean-x.Update.Mean))
	}
	p("Where the step time goes: Go %s; PyTorch %s.\n\n", share(g), share(py))
	if g.CPU != nil && py.CPU != nil {
		p("Process CPU time per step over whole runs (start-up and warm-up included; /usr/bin/time), a check on where the time is spent:\n\n")
		p("| | user ms/step | system ms/step | wall ms/step | system share of CPU |\n|---|---:|---:|---:|---:|\n")
		for _, x := range []TrainerSide{g, py} {
			c := x.CPU
			p("| %s | %.1f | %.1f | %.1f | %.0f%% |\n", x.Name, c.UserMsPerStep, c.SysMsPerStep, c.WallMsPerStep, 100*ratio(c.SysMsPerStep, c.UserMsPerStep+c.SysMsPerStep))
		}
		p("\n")
	}
	if chart != "" {
		p("![trainer](%s)\n\n", chart)
	}
}

func collectiveSection(p func(string, ...any), c *CollectiveCompare, chart string) {
	p("## 2. All-reduce bus bandwidth, %d ranks on this host\n\n", c.Ranks)
	p("float32 sum; busbw = algbw x 2(n-1)/n (nccl-tests' definition; equal to algbw for 2 ranks), in GB/s; each size runs about 0.5 s after calibrating warm-up calls, timed by the slowest rank; ")
	p("the tools run one after another in %s, and each size's best round is shown (the one least disturbed by other load on the machine). ", roundsText(c))
	p("ring = package collective under `launch -np 2` (bench/ringbw, transport auto: shared memory between ranks on one host); ring-tcp = the same over TCP loopback; ")
	p("openmpi = MPI_Allreduce (bench/mpibw/mpibw.c, `mpirun -np 2`, shared memory); gloo = torch.distributed all_reduce on the gloo backend (TCP loopback, bench/torch/gloobw.py).\n\n")
	p("| Size |")
	for _, impl := range c.Impls {
		p(" %s |", impl)
	}
	p(" ring / gloo | ring / openmpi |\n|---:|")
	for range c.Impls {
		p("---:|")
	}
	p("---:|---:|\n")
	for _, sz := range c.Sizes {
		p("| %s |", sizeName(sz))
		for _, impl := range c.Impls {
			v := c.get(impl, sz)
			if math.IsNaN(v) {
				p(" - |")
			} else {
				p(" %.2f |", v)
			}
		}
		p(" %s | %s |\n", fx(float64(c.RingOverGloo[sz])), fx(float64(c.RingOverMPI[sz])))
	}
	p("\n")
	if len(c.Incorrect) > 0 {
		p("**Wrong all-reduce results**: %s.\n\n", strings.Join(c.Incorrect, ", "))
	}
	if chart != "" {
		p("![collective](%s)\n\n", chart)
	}
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// headline is the summary printed on stdout.
func headline(s *Summary) string {
	var b strings.Builder
	for _, v := range verdicts(s) {
		fmt.Fprintf(&b, "  %-72s %9s", v.What, v.Measured)
		if v.Target != "" {
			fmt.Fprintf(&b, "  (target %s: %s)", v.Target, v.Met)
		}
		b.WriteString("\n")
	}
	for k, why := range s.Missing {
		fmt.Fprintf(&b, "  not measured: %s: %s\n", k, why)
	}
	return b.String()
}

// roundsText says how many rounds each implementation ran.
func roundsText(c *CollectiveCompare) string {
	n := 0
	same := true
	for _, impl := range c.Impls {
		if n != 0 && c.Rounds[impl] != n {
			same = false
		}
		n = max(n, c.Rounds[impl])
	}
	if same {
		return fmt.Sprintf("%d round(s)", n)
	}
	parts := make([]string, 0, len(c.Impls))
	for _, impl := range c.Impls {
		parts = append(parts, fmt.Sprintf("%s %d", impl, c.Rounds[impl]))
	}
	return "rounds (" + strings.Join(parts, ", ") + ")"
}
