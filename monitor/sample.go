package monitor

import (
	"fmt"
	"math"
	"time"
)

// Sample is one reading of one device. A field that could not be read is
// NaN.
type Sample struct {
	Time    time.Time
	Elapsed time.Duration // since the sampler started

	// Device is "gpu<N>" with N the GPU's NVML index (the physical index,
	// not the CUDA ordinal seen through CUDA_VISIBLE_DEVICES), or "cpu"
	// for the fallback.
	Device string
	// Name is the GPU's product name, or "process" for the fallback.
	Name string

	// Util is the GPU utilisation in percent; for the fallback, the
	// process's CPU use in percent of one core (200 = two busy cores).
	Util float64
	// MemUsedMiB is the GPU memory in use; for the fallback, the process's
	// resident set size.
	MemUsedMiB  float64
	MemTotalMiB float64
	PowerW      float64
	TempC       float64
	SMClockMHz  float64
}

// Metric key layout shared with package plots (DeviceKeyPrefix and the
// Field* constants there): "dev_t" and "dev_<device>_<field>".
const (
	keyPrefix = "dev_"
	keyTime   = "dev_t"
)

// Fields summarises samples as flat metric fields for one metrics.jsonl
// line: for each device the mean of each field over the samples where it
// was read, under "dev_<device>_util", "_mem_used_mib", "_mem_total_mib",
// "_power_w", "_temp_c" and "_sm_clock_mhz", and "dev_t", the latest
// Elapsed in seconds. Fields never read are left out, so every value is
// finite and JSON-encodable. No samples give an empty map.
func Fields(samples []Sample) map[string]float64 {
	out := make(map[string]float64)
	type acc struct{ sum, n float64 }
	sums := make(map[string]*acc)
	last := time.Duration(-1)
	for _, s := range samples {
		last = max(last, s.Elapsed)
		for field, v := range map[string]float64{
			"util": s.Util, "mem_used_mib": s.MemUsedMiB, "mem_total_mib": s.MemTotalMiB,
			"power_w": s.PowerW, "temp_c": s.TempC, "sm_clock_mhz": s.SMClockMHz,
		} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			k := fmt.Sprintf("%s%s_%s", keyPrefix, s.Device, field)
			a := sums[k]
			if a == nil {
				a = &acc{}
				sums[k] = a
			}
			a.sum += v
			a.n++
		}
	}
	for k, a := range sums {
		out[k] = a.sum / a.n
	}
	if last >= 0 {
		out[keyTime] = last.Seconds()
	}
	return out
}

// nanSample returns a sample with every reading NaN.
func nanSample(now time.Time, elapsed time.Duration, device, name string) Sample {
	nan := math.NaN()
	return Sample{Time: now, Elapsed: elapsed, Device: device, Name: name,
		Util: nan, MemUsedMiB: nan, MemTotalMiB: nan, PowerW: nan, TempC: nan, SMClockMHz: nan}
}
