package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Env describes the machine and the libraries of a bench run (env.json, written by scripts/bench/run.sh).
type Env struct {
	Date        string `json:"date"`
	Host        string `json:"host"`
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryGiB   string `json:"memory_gib"`
	Go          string `json:"go"`
	Commit      string `json:"commit"`
	BLAS        string `json:"blas"`
	Libtorch    string `json:"libtorch"`
	TorchPython string `json:"torch_python"`
	OpenMPI     string `json:"openmpi"`
	Checkpoint  string `json:"checkpoint"`
	Batch       int    `json:"batch"`
	Group       int    `json:"group"`
}

// Phase is the start of one part of the run with the load average at that moment.
type Phase struct {
	Name      string  `json:"phase"`
	StartUnix float64 `json:"start_unix"`
	LoadAvg   string  `json:"loadavg"` // 1, 5 and 15 minute load averages, as /proc/loadavg
}

func readEnv(path string) (Env, error) {
	var e Env
	js, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(js, &e); err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

func readPhases(path string) ([]Phase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Phase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var p Phase
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return out, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}
