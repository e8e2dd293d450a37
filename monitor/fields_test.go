package monitor_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/monitor"
	"github.com/unigrpo/unigrpo/plots"
)

func TestFieldsRoundTripThroughPlots(t *testing.T) {
	nan := math.NaN()
	samples := []monitor.Sample{
		{Elapsed: time.Second, Device: "gpu3", Util: 40, MemUsedMiB: 1000, MemTotalMiB: 80000, PowerW: 300, TempC: 50, SMClockMHz: 1900},
		{Elapsed: 2 * time.Second, Device: "gpu3", Util: 60, MemUsedMiB: 3000, MemTotalMiB: 80000, PowerW: nan, TempC: 70, SMClockMHz: 1900},
		{Elapsed: 2500 * time.Millisecond, Device: "cpu", Util: 150, MemUsedMiB: 512, MemTotalMiB: nan, PowerW: nan, TempC: nan, SMClockMHz: nan},
	}
	f := monitor.Fields(samples)
	want := map[string]float64{
		"dev_t": 2.5, "dev_gpu3_util": 50, "dev_gpu3_mem_used_mib": 2000, "dev_gpu3_mem_total_mib": 80000,
		"dev_gpu3_power_w": 300, "dev_gpu3_temp_c": 60, "dev_gpu3_sm_clock_mhz": 1900,
		"dev_cpu_util": 150, "dev_cpu_mem_used_mib": 512,
	}
	if len(f) != len(want) {
		t.Errorf("Fields = %v, want %v", f, want)
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("Fields[%s] = %v, want %v", k, f[k], v)
		}
	}
	if len(monitor.Fields(nil)) != 0 {
		t.Error("Fields(nil) is not empty")
	}

	// The keys are the ones package plots reads back.
	line := map[string]float64{"step": 7}
	for k, v := range f {
		line[k] = v
	}
	b, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	m, err := plots.DecodeMetrics(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := plots.DeviceSamplesFromMetrics(m)
	if len(got) != 2 || got[0].Device != "gpu3" || got[1].Device != "cpu" {
		t.Fatalf("plots read back %+v", got)
	}
	g := got[0]
	if g.T != 2.5 || g.Util != 50 || g.MemUsedMiB != 2000 || g.PowerW != 300 || g.TempC != 60 || g.SMClockMHz != 1900 || g.MemTotalMiB != 80000 {
		t.Errorf("gpu3 read back as %+v", g)
	}
	if c := got[1]; c.Util != 150 || c.MemUsedMiB != 512 || !math.IsNaN(c.PowerW) {
		t.Errorf("cpu read back as %+v", c)
	}
}
