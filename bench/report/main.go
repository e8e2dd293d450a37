// Command report writes the project's two benchmark reports from their raw measurements:
//
//	report --dir runs/bench-20260101-1200 [--warmup 5]
//	report gpu --work /tmp/unigrpo-gpu-run --out runs/gpu --mode gpu|rehearse [--seconds S]
//	report gpu --from bench/gpu/2026-11-27-h200/run2-gpu-report.json
//
// The first is the report of `make bench` (scripts/bench/run.sh): summary.json, report.md and PNG
// charts in the run folder. The second is the report of the GPU kit's run (scripts/gpu/run.sh):
// gpu-report.json and gpu-report.md (see gpu.go); with --from it prints an existing report's
// markdown again. Usage errors exit with status 2.
//
// For `make bench` it reads, under --dir (a missing part leaves its section marked "not measured"):
//
//	env.json                   the machine and libraries (written by scripts/bench/run.sh)
//	phases.jsonl               {"phase","start_unix","loadavg"} at the start of every phase
//	trainer/go-N/metrics.jsonl the Go trainer's runs (metrics of `trainer train`)
//	trainer/torch-N.jsonl      the PyTorch twin's runs (bench/torch/grpo.py, same keys)
//	collective/IMPL.jsonl      all-reduce bandwidth lines of ringbw, mpibw or gloobw
//	scaling/npN-K/metrics.jsonl GRPO runs on N ranks at the same global batch
//	memory/metrics.jsonl       a long GRPO run with per-rank resident memory readings
//
// The first --warmup steps of every trainer and scaling run are left out of the statistics.
// Ratios are written so that above 1 favours this project: PyTorch time / Go time, ring
// bandwidth / peer bandwidth, 2-rank / 1-rank throughput.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gpu" {
		os.Exit(runGPU(os.Args[2:], os.Stdout, os.Stderr))
	}
	dir := flag.String("dir", "", "run folder of scripts/bench/run.sh (required)")
	warmup := flag.Int("warmup", 5, "steps left out at the start of every trainer and scaling run")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: report --dir RUN_FOLDER [--warmup N]\n       report gpu --help")
		os.Exit(2)
	}
	s, err := build(*dir, *warmup)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if err := write(*dir, s); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Print(headline(s))
}

// Summary is everything the report shows; it is written as summary.json.
type Summary struct {
	Env        Env                `json:"env"`
	Phases     []Phase            `json:"phases"`
	Warmup     int                `json:"warmup_steps"`
	Trainer    *TrainerCompare    `json:"trainer,omitempty"`
	Collective *CollectiveCompare `json:"collective,omitempty"`
	Scaling    *Scaling           `json:"scaling,omitempty"`
	Memory     *Memory            `json:"memory,omitempty"`
	// Missing names the sections that could not be built and why.
	Missing map[string]string `json:"missing,omitempty"`
}

// build reads every part that exists under dir.
func build(dir string, warmup int) (*Summary, error) {
	if warmup < 0 {
		return nil, fmt.Errorf("--warmup %d: must not be negative", warmup)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--dir %s: not a folder (run scripts/bench/run.sh first)", dir)
	}
	s := &Summary{Warmup: warmup, Missing: map[string]string{}}
	var err error
	if s.Env, err = readEnv(filepath.Join(dir, "env.json")); err != nil {
		s.Missing["env"] = err.Error()
	}
	if s.Phases, err = readPhases(filepath.Join(dir, "phases.jsonl")); err != nil {
		s.Missing["phases"] = err.Error()
	}
	if s.Trainer, err = compareTrainers(filepath.Join(dir, "trainer"), warmup); err != nil {
		s.Missing["trainer"] = err.Error()
	}
	if s.Collective, err = compareCollectives(filepath.Join(dir, "collective")); err != nil {
		s.Missing["collective"] = err.Error()
	}
	if s.Scaling, err = measureScaling(filepath.Join(dir, "scaling"), warmup); err != nil {
		s.Missing["scaling"] = err.Error()
	}
	if s.Memory, err = measureMemory(filepath.Join(dir, "memory", "metrics.jsonl")); err != nil {
		s.Missing["memory"] = err.Error()
	}
	return s, nil
}

// write stores summary.json, the charts and report.md in dir.
func write(dir string, s *Summary) error {
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "summary.json"), append(js, '\n')); err != nil {
		return err
	}
	charts, err := drawCharts(dir, s)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "report.md"), []byte(markdown(s, charts)))
}

// writeFileAtomic writes data to path through a temporary file in the same folder.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file private (0600); a report is for everyone to read.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
