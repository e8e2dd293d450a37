package monitor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML is the part of the NVML library the sampler uses. nvml.New()
// satisfies it, and so do go-nvml's mock servers in tests.
type NVML interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(index int) (nvml.Device, nvml.Return)
	DeviceGetHandleByUUID(uuid string) (nvml.Device, nvml.Return)
}

// gpu is one device being sampled.
type gpu struct {
	index  int
	name   string
	device nvml.Device
}

// gpuSource reads the selected GPUs.
type gpuSource struct {
	lib  NVML
	gpus []gpu
	warn *warnings
}

// resolveGPUs maps the CUDA ordinals of the process to NVML devices.
// visible is the value of CUDA_VISIBLE_DEVICES ("" means unset: ordinal i
// is NVML index i). An empty ordinals list selects every visible GPU.
func resolveGPUs(lib NVML, ordinals []int, visible string) ([]gpu, error) {
	count, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("monitor: NVML device count: %w", ret)
	}
	var entries []string
	if strings.TrimSpace(visible) != "" {
		for e := range strings.SplitSeq(visible, ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	} else {
		for i := range count {
			entries = append(entries, strconv.Itoa(i))
		}
	}
	if len(ordinals) == 0 {
		for i := range entries {
			ordinals = append(ordinals, i)
		}
	}
	var out []gpu
	for _, ord := range ordinals {
		if ord < 0 || ord >= len(entries) {
			return nil, fmt.Errorf("monitor: GPU %d requested but only %d visible (NVML count %d, CUDA_VISIBLE_DEVICES=%q)",
				ord, len(entries), count, visible)
		}
		dev, idx, err := lookup(lib, entries[ord], count)
		if err != nil {
			return nil, fmt.Errorf("monitor: GPU %d (CUDA_VISIBLE_DEVICES entry %q): %w", ord, entries[ord], err)
		}
		name, ret := dev.GetName()
		if ret != nvml.SUCCESS {
			name = "GPU"
		}
		out = append(out, gpu{index: idx, name: name, device: dev})
	}
	return out, nil
}

// lookup finds the NVML device for one CUDA_VISIBLE_DEVICES entry: an
// NVML index or a (possibly shortened) "GPU-" UUID.
func lookup(lib NVML, entry string, count int) (nvml.Device, int, error) {
	if n, err := strconv.Atoi(entry); err == nil {
		if n < 0 || n >= count {
			return nil, 0, fmt.Errorf("index %d out of range: NVML sees %d GPUs", n, count)
		}
		dev, ret := lib.DeviceGetHandleByIndex(n)
		if ret != nvml.SUCCESS {
			return nil, 0, fmt.Errorf("NVML device %d: %w", n, ret)
		}
		return dev, n, nil
	}
	if strings.HasPrefix(entry, "MIG-") {
		return nil, 0, errors.New("MIG instances are not supported by the monitor")
	}
	if !strings.HasPrefix(entry, "GPU-") {
		return nil, 0, errors.New("not an index or a GPU- UUID")
	}
	// CUDA accepts UUID prefixes; NVML wants the full UUID, so compare.
	for i := range count {
		dev, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		uuid, ret := dev.GetUUID()
		if ret == nvml.SUCCESS && strings.HasPrefix(uuid, entry) {
			return dev, i, nil
		}
	}
	return nil, 0, fmt.Errorf("no GPU with UUID %s", entry)
}

// read takes one reading of every selected GPU. A field that fails is NaN
// and its error is recorded once in the warnings.
func (s *gpuSource) read(now time.Time, elapsed time.Duration) []Sample {
	out := make([]Sample, 0, len(s.gpus))
	for _, g := range s.gpus {
		dev := fmt.Sprintf("gpu%d", g.index)
		smp := nanSample(now, elapsed, dev, g.name)
		if u, ret := g.device.GetUtilizationRates(); s.ok(dev, "utilisation", ret) {
			smp.Util = float64(u.Gpu)
		}
		if m, ret := g.device.GetMemoryInfo(); s.ok(dev, "memory", ret) {
			smp.MemUsedMiB = float64(m.Used) / (1 << 20)
			smp.MemTotalMiB = float64(m.Total) / (1 << 20)
		}
		if p, ret := g.device.GetPowerUsage(); s.ok(dev, "power", ret) {
			smp.PowerW = float64(p) / 1000
		}
		if t, ret := g.device.GetTemperature(nvml.TEMPERATURE_GPU); s.ok(dev, "temperature", ret) {
			smp.TempC = float64(t)
		}
		if c, ret := g.device.GetClockInfo(nvml.CLOCK_SM); s.ok(dev, "SM clock", ret) {
			smp.SMClockMHz = float64(c)
		}
		out = append(out, smp)
	}
	return out
}

func (s *gpuSource) ok(dev, what string, ret nvml.Return) bool {
	if ret == nvml.SUCCESS {
		return true
	}
	s.warn.add(fmt.Sprintf("%s %s: %v", dev, what, ret))
	return false
}

func (s *gpuSource) close() {
	s.lib.Shutdown()
}
