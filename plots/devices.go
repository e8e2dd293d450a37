package plots

import (
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// DevicesFile is the file name written by Devices.
const DevicesFile = "devices.png"

// DeviceSample is one reading of one device. Fields that were not measured
// are NaN. For the CPU fallback (Device "cpu") Util is the process's CPU
// use in percent of one core and MemUsedMiB its resident memory.
type DeviceSample struct {
	T           float64 // seconds since sampling started
	Device      string  // "gpu0", "gpu1", ... or "cpu" ("cpu0", "cpu1", ... per rank)
	Util        float64 // percent
	MemUsedMiB  float64
	MemTotalMiB float64
	PowerW      float64
	TempC       float64
	SMClockMHz  float64
}

// Metric keys of device samples inside metrics.jsonl lines: DeviceTimeKey
// holds the sample time and DeviceKeyPrefix+"<device>_<field>" the values,
// with <device> free of underscores (for example "dev_gpu0_util",
// "dev_cpu_mem_used_mib"). Package monitor writes these keys.
const (
	DeviceKeyPrefix = "dev_"
	DeviceTimeKey   = "dev_t"
)

// Device field names used after "dev_<device>_".
const (
	FieldUtil        = "util"
	FieldMemUsedMiB  = "mem_used_mib"
	FieldMemTotalMiB = "mem_total_mib"
	FieldPowerW      = "power_w"
	FieldTempC       = "temp_c"
	FieldSMClockMHz  = "sm_clock_mhz"
)

// DeviceSamplesFromMetrics collects the device readings stored in metrics
// lines under the "dev_" keys. A line's time is its DeviceTimeKey value, or
// its step when that key is absent. Unknown fields are ignored.
func DeviceSamplesFromMetrics(m *Metrics) []DeviceSample {
	times := make(map[float64]float64)
	for _, p := range m.Series(DeviceTimeKey) {
		times[p.Step] = p.Value
	}
	type key struct {
		dev  string
		step float64
	}
	byKey := make(map[key]*DeviceSample)
	var order []key
	for _, name := range m.Names() {
		rest, ok := strings.CutPrefix(name, DeviceKeyPrefix)
		if !ok || name == DeviceTimeKey {
			continue
		}
		dev, field, ok := strings.Cut(rest, "_")
		if !ok || dev == "" {
			continue
		}
		for _, p := range m.Series(name) {
			k := key{dev, p.Step}
			s := byKey[k]
			if s == nil {
				t, ok := times[p.Step]
				if !ok {
					t = p.Step
				}
				nan := math.NaN()
				s = &DeviceSample{T: t, Device: dev, Util: nan, MemUsedMiB: nan,
					MemTotalMiB: nan, PowerW: nan, TempC: nan, SMClockMHz: nan}
				byKey[k] = s
				order = append(order, k)
			}
			switch field {
			case FieldUtil:
				s.Util = p.Value
			case FieldMemUsedMiB:
				s.MemUsedMiB = p.Value
			case FieldMemTotalMiB:
				s.MemTotalMiB = p.Value
			case FieldPowerW:
				s.PowerW = p.Value
			case FieldTempC:
				s.TempC = p.Value
			case FieldSMClockMHz:
				s.SMClockMHz = p.Value
			}
		}
	}
	out := make([]DeviceSample, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return deviceLess(out[i].Device, out[j].Device)
		}
		return out[i].T < out[j].T
	})
	return out
}

// isCPU reports whether a device name is the CPU fallback's: "cpu", or
// "cpu<N>" for rank N's process.
func isCPU(dev string) bool { return strings.HasPrefix(dev, "cpu") }

// deviceLess orders GPUs before CPUs, then by number ("gpu2" before
// "gpu10"), then by name.
func deviceLess(a, b string) bool {
	if ca, cb := isCPU(a), isCPU(b); ca != cb {
		return cb
	}
	na, nb := deviceNumber(a), deviceNumber(b)
	if na != nb {
		return na < nb
	}
	return a < b
}

// deviceNumber is the number ending a device name, or -1.
func deviceNumber(dev string) int {
	i := len(dev)
	for i > 0 && dev[i-1] >= '0' && dev[i-1] <= '9' {
		i--
	}
	if i == len(dev) || len(dev)-i > 9 {
		return -1
	}
	n := 0
	for _, c := range dev[i:] {
		n = n*10 + int(c-'0')
	}
	return n
}

// Figure sizes of Devices, in inches.
const (
	devicesW          = 10
	devicesGPUH       = 6.5
	devicesCPUH       = 3.5
	devicesGPURows    = 2
	devicesGPUColumns = 2
)

// Devices writes DevicesFile into outDir. When any sample comes from a GPU
// it draws four panels (utilisation, memory used with the total as a
// dashed line, power and SM clock) with one line per device; when all
// samples come from CPUs ("cpu", "cpu<N>") it draws the processes' CPU use
// and resident memory. No samples give a figure of empty panels labelled NoData.
func Devices(samples []DeviceSample, outDir string) error {
	devs := deviceOrder(samples)
	series := func(dev string, f func(DeviceSample) float64) plotter.XYs {
		var pts []Point
		for _, s := range samples {
			if s.Device == dev {
				pts = append(pts, Point{Step: s.T, Value: f(s)})
			}
		}
		return finite(pts)
	}
	mk := func(title, yLabel string, f func(DeviceSample) float64) *panel {
		p := &panel{title: title, xLabel: "time (s)", yLabel: yLabel}
		for i, d := range devs {
			p.curves = append(p.curves, curve{label: d, xys: series(d, f), color: plotutil.Color(i)})
		}
		return p
	}
	path := filepath.Join(outDir, DevicesFile)
	util := func(s DeviceSample) float64 { return s.Util }
	used := func(s DeviceSample) float64 { return s.MemUsedMiB }
	gpu := false
	for _, d := range devs {
		gpu = gpu || !isCPU(d)
	}
	if !gpu {
		panels := []*panel{
			mk("Process CPU use", "% of one core", util),
			mk("Process resident memory", "MiB", used),
		}
		return grid(panels, 1, 2, devicesW*vg.Inch, devicesCPUH*vg.Inch, path)
	}
	mem := mk("Memory used (dashed: total)", "MiB", used)
	for i, d := range devs {
		total := series(d, func(s DeviceSample) float64 { return s.MemTotalMiB })
		mem.curves = append(mem.curves, curve{xys: total, style: dashed, color: plotutil.Color(i)})
	}
	panels := []*panel{
		mk("Utilisation", "%", util),
		mem,
		mk("Power", "W", func(s DeviceSample) float64 { return s.PowerW }),
		mk("SM clock", "MHz", func(s DeviceSample) float64 { return s.SMClockMHz }),
	}
	return grid(panels, devicesGPURows, devicesGPUColumns, devicesW*vg.Inch, devicesGPUH*vg.Inch, path)
}

// deviceOrder returns the distinct device names of samples, GPUs first in
// numeric order.
func deviceOrder(samples []DeviceSample) []string {
	seen := make(map[string]bool)
	var devs []string
	for _, s := range samples {
		if !seen[s.Device] {
			seen[s.Device] = true
			devs = append(devs, s.Device)
		}
	}
	sort.Slice(devs, func(i, j int) bool { return deviceLess(devs[i], devs[j]) })
	return devs
}
