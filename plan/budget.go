package plan

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/unigrpo/unigrpo/monitor"
)

// Budget is the memory one rank may use: its GPU's, and its share of the host's.
type Budget struct {
	Device     int64  `json:"device,omitempty"` // bytes of the rank's GPU (0: not checked)
	DeviceFrom string `json:"device_from,omitempty"`
	Host       int64  `json:"host,omitempty"` // the host's bytes divided by the ranks on it (0: not checked)
	HostFrom   string `json:"host_from,omitempty"`
}

// Check sets p's budget, whether its peaks fit in it and which do not.
func (p *Plan) Check(b Budget) {
	p.Budget, p.Fits, p.Over = &b, true, nil
	if b.Device > 0 && p.Peak.Device > b.Device {
		p.Fits = false
		p.Over = append(p.Over, fmt.Sprintf("device %s > %s", Human(p.Peak.Device), Human(b.Device)))
	}
	if b.Host > 0 && p.Peak.Host > b.Host {
		p.Fits = false
		p.Over = append(p.Over, fmt.Sprintf("host %s > %s", Human(p.Peak.Host), Human(b.Host)))
	}
}

// ParseBytes reads a size: a number of bytes, or one with a unit (KB, MB, GB, TB in powers of
// 1000; KiB, MiB, GiB, TiB in powers of 1024), such as 80GB or 79.6GiB.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		// The longer units come first: 80GB is read as GB, not B.
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, or one with a unit (80GB, 79.6GiB)", s)
	}
	return int64(f * mult), nil
}

// HostAvailable is MemAvailable of the meminfo file (/proc/meminfo).
func HostAvailable(meminfo string) (int64, error) {
	f, err := os.Open(meminfo)
	if err != nil {
		return 0, fmt.Errorf("host memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("host memory: %s: %q: %w", meminfo, sc.Text(), err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("host memory: %s: %w", meminfo, err)
	}
	return 0, fmt.Errorf("host memory: %s has no MemAvailable line", meminfo)
}

// GPUMemory reads the total memory and the name of the GPU of CUDA ordinal ordinal through
// NVML (package monitor; CUDA_VISIBLE_DEVICES maps the ordinal). o.NVML may be a fake in tests.
func GPUMemory(ordinal int, o monitor.Options) (int64, string, error) {
	o.Devices, o.Interval = []int{ordinal}, time.Hour
	if o.VisibleDevices == "" {
		o.VisibleDevices = os.Getenv("CUDA_VISIBLE_DEVICES")
	}
	s, err := monitor.Start(context.Background(), o)
	if err != nil {
		return 0, "", fmt.Errorf("GPU memory: %w", err)
	}
	defer s.Stop()
	if s.Source() != monitor.SourceNVML {
		return 0, "", fmt.Errorf("GPU memory: %s", s.Notice())
	}
	for _, smp := range s.Read() {
		if !math.IsNaN(smp.MemTotalMiB) && smp.MemTotalMiB > 0 {
			return int64(smp.MemTotalMiB * (1 << 20)), smp.Name, nil
		}
	}
	return 0, "", fmt.Errorf("GPU memory: NVML did not report the memory of GPU %d (%s)", ordinal, strings.Join(s.Warnings(), "; "))
}
