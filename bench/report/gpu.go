package main

// `report gpu`: the report of the GPU kit's run (scripts/gpu/run.sh), gpu-report.json and
// gpu-report.md, from the run's scratch folder. The kit carries this command prebuilt (it is pure
// Go), so a GPU host without Go writes its own report. It reads, under --work (a missing part
// leaves its section out):
//
//	steps.jsonl                  {"step","status","seconds","note"}, one line per step of run.sh
//	logs/gpucheck.log            gpucheck's output: NCCL, CUDA runtime, one-rank all-reduce, NVML
//	libtorch.json, gotch-prep.json   the libtorch found and the build of gotch's C++ layer
//	run/NAME/metrics.jsonl       the training runs (sft, grpo-np1, grpo-np2, and the CPU twins *-cpu)
//	bench/settings.json          scripts/gpu/bench.sh's settings (warm-up steps, device, wide size)
//	bench/SIZE-go-N/metrics.jsonl, bench/SIZE-torch-N.jsonl   the Go and PyTorch-twin GRPO runs
//	bench3b/                     the 3B benchmark of scripts/gpu/checks/grpo3b.sh (gpu3b.go)
//	checks/NAME.json             the results of the other registered checks (gpuchecks.go)
//
// The JSON keeps the layout of the reports in bench/gpu/, so `report gpu --from FILE` renders
// those again.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// GPUReport is gpu-report.json.
type GPUReport struct {
	Mode      string          `json:"mode"`
	Seconds   float64         `json:"seconds"`
	Machine   GPUMachine      `json:"machine"`
	Steps     []GPUStep       `json:"steps"`
	AllPassed bool            `json:"all_passed"`
	GPUCheck  *GPUCheck       `json:"gpucheck"`
	Libtorch  json.RawMessage `json:"libtorch"` // libtorch.json as run.sh wrote it
	Build     json.RawMessage `json:"build"`    // gotch-prep.json as gotch-prep.py wrote it
	Training  *GPUTraining    `json:"training"`
	Bench     *GPUBench       `json:"bench,omitempty"`
	Bench3B   *Bench3B        `json:"bench_3b,omitempty"`
	Checks    []CheckResult   `json:"checks,omitempty"`
}

// GPUStep is one step of run.sh: pass, fail, timeout or skip.
type GPUStep struct {
	Step    string  `json:"step"`
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	Note    string  `json:"note"`
}

// runGPU is `report gpu`; it returns the exit status.
func runGPU(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report gpu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	work := fs.String("work", "", "scratch folder of scripts/gpu/run.sh (GPU_RUN_WORK)")
	out := fs.String("out", "", "folder to write gpu-report.json and gpu-report.md into")
	mode := fs.String("mode", "", "gpu or rehearse")
	seconds := fs.Float64("seconds", 0, "seconds the whole run took")
	from := fs.String("from", "", "print the markdown of an existing gpu-report.json instead")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: report gpu --work DIR --out DIR --mode gpu|rehearse [--seconds S]\n       report gpu --from gpu-report.json")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "report gpu: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *from != "" {
		if *work != "" || *out != "" {
			fmt.Fprintln(stderr, "report gpu: --from goes alone")
			return 2
		}
		js, err := os.ReadFile(*from)
		if err != nil {
			fmt.Fprintln(stderr, "report gpu:", err)
			return 1
		}
		var r GPUReport
		if err := json.Unmarshal(js, &r); err != nil {
			fmt.Fprintf(stderr, "report gpu: %s: %v\n", *from, err)
			return 1
		}
		fmt.Fprint(stdout, gpuMarkdown(&r))
		return 0
	}
	if *work == "" || *out == "" || (*mode != "gpu" && *mode != "rehearse") {
		fmt.Fprintln(stderr, "report gpu: --work, --out and --mode (gpu or rehearse) are required")
		fs.Usage()
		return 2
	}
	r := buildGPU(*work, *mode, *seconds, probeMachine())
	js, err := json.MarshalIndent(r, "", " ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(*out, "gpu-report.json"), append(js, '\n'))
	}
	md := gpuMarkdown(r)
	if err == nil {
		err = writeFileAtomic(filepath.Join(*out, "gpu-report.md"), []byte(md))
	}
	if err != nil {
		fmt.Fprintln(stderr, "report gpu:", err)
		return 1
	}
	fmt.Fprintln(stdout, md)
	return 0
}

// buildGPU reads every part of the run that exists under work.
func buildGPU(work, mode string, seconds float64, m GPUMachine) *GPUReport {
	r := &GPUReport{Mode: mode, Seconds: seconds, Machine: m}
	for _, row := range readJSONLines(filepath.Join(work, "steps.jsonl")) {
		var s GPUStep
		if js, err := json.Marshal(row); err == nil && json.Unmarshal(js, &s) == nil {
			r.Steps = append(r.Steps, s)
		}
	}
	r.AllPassed = len(r.Steps) > 0
	for _, s := range r.Steps {
		r.AllPassed = r.AllPassed && s.Status == "pass"
	}
	r.GPUCheck = readGPUCheck(filepath.Join(work, "logs", "gpucheck.log"))
	r.Libtorch = readRawJSON(filepath.Join(work, "libtorch.json"))
	r.Build = readRawJSON(filepath.Join(work, "gotch-prep.json"))
	runDir := filepath.Join(work, "run")
	t := &GPUTraining{Runs: map[string]*RunSummary{}, CPUvsGPU: map[string]*CPUCompare{}}
	if names, err := os.ReadDir(runDir); err == nil {
		for _, n := range names {
			t.Runs[n.Name()] = summariseRun(filepath.Join(runDir, n.Name()))
		}
	}
	t.CPUvsGPU["sft"] = compareRuns(filepath.Join(runDir, "sft"), filepath.Join(runDir, "sft-cpu"), 5)
	t.CPUvsGPU["grpo"] = compareRuns(filepath.Join(runDir, "grpo-np1"), filepath.Join(runDir, "grpo-np1-cpu"), 5)
	r.Training = t
	if st, err := os.Stat(filepath.Join(work, "bench")); err == nil && st.IsDir() {
		r.Bench = benchGPU(filepath.Join(work, "bench"), filepath.Join(runDir, "sft"), m.GPU)
	}
	r.Bench3B = bench3B(filepath.Join(work, "bench3b"))
	r.Checks = readChecks(filepath.Join(work, "checks"))
	return r
}
