package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// GPUMachine describes the host the report was written on.
type GPUMachine struct {
	Host   string `json:"host"`
	Kernel string `json:"kernel"`
	Cores  int    `json:"cores"`
	Python string `json:"python"`
	Date   string `json:"date"`
	GPU    string `json:"gpu"`   // nvidia-smi's name, driver, memory
	Torch  string `json:"torch"` // python3's torch version and CUDA version
	CPU    string `json:"cpu"`
}

// probeMachine describes this host: the GPU through nvidia-smi, PyTorch through python3.
func probeMachine() GPUMachine {
	m := GPUMachine{Cores: runtime.NumCPU(), Date: time.Now().Format("2006-01-02 15:04:05 MST")}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.GPU = command("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader")
	m.Torch = command("python3", "-c", "import torch; print(torch.__version__, torch.version.cuda)")
	m.Python = command("python3", "-c", "import platform; print(platform.python_version())")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					m.CPU = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	return m
}

// command returns a program's standard output, trimmed; empty when it is missing or fails.
func command(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
