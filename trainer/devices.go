package trainer

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/unigrpo/unigrpo/monitor"
)

// devices samples the device this rank uses (GPU through NVML, else the process's CPU use and
// resident memory) and gathers the readings of every rank into rank 0's metrics lines under
// dev_<device>_<field> keys, which package plots draws as devices.png.
type devices struct {
	s     *monitor.Sampler
	start time.Time
}

// deviceFields is the order of the per-rank vector that is gathered.
func deviceFields() []string {
	return []string{"util", "mem_used_mib", "mem_total_mib", "power_w", "temp_c", "sm_clock_mhz"}
}

func startDevices(interval time.Duration, cuda bool, gpu int) (*devices, string, error) {
	if interval <= 0 {
		return nil, "", nil
	}
	opts := monitor.Options{Interval: interval, NoGPU: !cuda, VisibleDevices: os.Getenv("CUDA_VISIBLE_DEVICES")}
	if cuda {
		opts.Devices = []int{gpu}
	}
	s, err := monitor.Start(context.Background(), opts)
	if err != nil {
		return nil, "", fmt.Errorf("device monitor: %w", err)
	}
	return &devices{s: s, start: time.Now()}, s.Notice(), nil
}

// fields drains this rank's samples and returns every rank's means, for rank 0's record.
func (dv *devices) fields(d *Dist) (Record, error) {
	if dv == nil {
		return nil, nil
	}
	samples := dv.s.Drain()
	fields := deviceFields()
	mine := make([]float32, len(fields))
	for i := range mine {
		mine[i] = float32(math.NaN())
	}
	gpu := false
	if len(samples) > 0 {
		gpu = samples[0].Device != "cpu"
		f := monitor.Fields(samples)
		for i, name := range fields {
			if v, ok := f[fmt.Sprintf("dev_%s_%s", samples[0].Device, name)]; ok {
				mine[i] = float32(v)
			}
		}
	}
	all, err := d.allGather(mine)
	if err != nil {
		return nil, fmt.Errorf("device readings: %w", err)
	}
	rec := Record{"dev_t": time.Since(dv.start).Seconds()}
	for r := 0; r < d.World(); r++ {
		name := fmt.Sprintf("cpu%d", r)
		if gpu {
			name = fmt.Sprintf("gpu%d", r)
		}
		for i, field := range fields {
			if v := float64(all[r*len(fields)+i]); !math.IsNaN(v) {
				rec[fmt.Sprintf("dev_%s_%s", name, field)] = v
			}
		}
	}
	return rec, nil
}

func (dv *devices) stop() {
	if dv != nil {
		dv.s.Stop()
	}
}
