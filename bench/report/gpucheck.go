package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// GPUCheck holds the figures read from gpucheck's output.
type GPUCheck struct {
	Output          string   `json:"output"` // its last 3,000 characters
	NCCLLib         string   `json:"nccl_lib,omitempty"`
	NCCLVersion     string   `json:"nccl_version,omitempty"`
	CUDART          string   `json:"cudart,omitempty"`
	CUDARuntime     string   `json:"cuda_runtime,omitempty"`
	CUDADriver      string   `json:"cuda_driver,omitempty"`
	Devices         *int     `json:"devices,omitempty"`
	OneRankAlgbwGBs *float64 `json:"one_rank_algbw_gbs,omitempty"`
	OneRankBusbwGBs *float64 `json:"one_rank_busbw_gbs,omitempty"`
	OneRankOK       bool     `json:"one_rank_ok"`
	NVML            []string `json:"nvml"`
}

var (
	ncclLoaded   = regexp.MustCompile(`nccl: loaded (\S+) \(NCCL ([\d.]+)`)
	cudaLoaded   = regexp.MustCompile(`cuda: loaded (\S+) \(runtime (\S+), driver (\S+)\), (\d+) device`)
	oneRankLine  = regexp.MustCompile(`one-rank all-reduce.*?: ok.*?algbw ([\d.]+) GB/s, busbw ([\d.]+) GB/s`)
	nvmlReadings = regexp.MustCompile(`(?m)^nvml: .*$`)
)

// readGPUCheck reads gpucheck's output; nil when there is none.
func readGPUCheck(path string) *GPUCheck {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	text := string(data)
	tail := []rune(text)
	if len(tail) > 3000 {
		tail = tail[len(tail)-3000:]
	}
	g := &GPUCheck{Output: string(tail), NVML: []string{}}
	if m := ncclLoaded.FindStringSubmatch(text); m != nil {
		g.NCCLLib, g.NCCLVersion = m[1], m[2]
	}
	if m := cudaLoaded.FindStringSubmatch(text); m != nil {
		g.CUDART, g.CUDARuntime, g.CUDADriver = m[1], m[2], m[3]
		var n int
		fmt.Sscan(m[4], &n)
		g.Devices = &n
	}
	if m := oneRankLine.FindStringSubmatch(text); m != nil {
		var a, b float64
		fmt.Sscan(m[1], &a)
		fmt.Sscan(m[2], &b)
		g.OneRankAlgbwGBs, g.OneRankBusbwGBs = &a, &b
	}
	g.OneRankOK = strings.Contains(text, "one-rank all-reduce") && strings.Contains(text, ": ok")
	g.NVML = append(g.NVML, nvmlReadings.FindAllString(text, -1)...)
	return g
}
