package monitor

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// fakeDGX returns a mocked 8×A100 server whose GPU i reports utilisation
// 10+i %, i GiB used, 100+i W, 40+i °C and 1000+i MHz.
func fakeDGX(t *testing.T) *dgxa100.Server {
	t.Helper()
	srv := dgxa100.New()
	for i, d := range srv.Devices {
		dev := d.(*server.Device)
		i := uint32(i)
		dev.MemoryInfo.Used = uint64(i) << 30
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: 10 + i, Memory: 5}, nvml.SUCCESS
		}
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return (100 + i) * 1000, nvml.SUCCESS }
		dev.GetTemperatureFunc = func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
			if s != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return 40 + i, nvml.SUCCESS
		}
		dev.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
			if c != nvml.CLOCK_SM {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return 1000 + i, nvml.SUCCESS
		}
	}
	return srv
}

func startT(t *testing.T, opts Options) *Sampler {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestNVMLReadings(t *testing.T) {
	s := startT(t, Options{NVML: fakeDGX(t), Devices: []int{1, 3}, Interval: time.Hour})
	if s.Source() != SourceNVML || s.Notice() != "" {
		t.Fatalf("source %q, notice %q; want NVML and no notice", s.Source(), s.Notice())
	}
	got := s.Read()
	if len(got) != 2 {
		t.Fatalf("got %d samples, want 2", len(got))
	}
	for k, idx := range []int{1, 3} {
		g := got[k]
		f := float64(idx)
		want := Sample{Device: "gpu" + string(rune('0'+idx)), Util: 10 + f, MemUsedMiB: 1024 * f,
			MemTotalMiB: 40960, PowerW: 100 + f, TempC: 40 + f, SMClockMHz: 1000 + f}
		if g.Device != want.Device || g.Util != want.Util || g.MemUsedMiB != want.MemUsedMiB ||
			g.MemTotalMiB != want.MemTotalMiB || g.PowerW != want.PowerW || g.TempC != want.TempC ||
			g.SMClockMHz != want.SMClockMHz {
			t.Errorf("sample %d = %+v, want %+v", k, g, want)
		}
		if !strings.Contains(g.Name, "A100") {
			t.Errorf("name %q", g.Name)
		}
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
}

func TestVisibleDevicesMapping(t *testing.T) {
	srv := fakeDGX(t)
	uuid6 := srv.Devices[6].(*server.Device).UUID
	cases := []struct {
		visible string
		devices []int
		want    []string
	}{
		{"5,2", []int{1}, []string{"gpu2"}},
		{" 7 , 4 ", nil, []string{"gpu7", "gpu4"}},
		{"3," + uuid6[:12], []int{1, 0}, []string{"gpu6", "gpu3"}},
		{"", nil, []string{"gpu0", "gpu1", "gpu2", "gpu3", "gpu4", "gpu5", "gpu6", "gpu7"}},
	}
	for _, c := range cases {
		s := startT(t, Options{NVML: srv, VisibleDevices: c.visible, Devices: c.devices, Interval: time.Hour})
		got := s.Read()
		if len(got) != len(c.want) {
			t.Errorf("visible %q devices %v: %d samples, want %v", c.visible, c.devices, len(got), c.want)
			continue
		}
		for i := range got {
			if got[i].Device != c.want[i] {
				t.Errorf("visible %q devices %v: sample %d is %s, want %s", c.visible, c.devices, i, got[i].Device, c.want[i])
			}
		}
	}
}

func TestBadDevices(t *testing.T) {
	cases := []struct {
		visible string
		devices []int
		msg     string
	}{
		{"", []int{8}, "GPU 8 requested but only 8 visible"},
		{"0,1", []int{2}, "GPU 2 requested but only 2 visible"},
		{"9", []int{0}, "index 9 out of range"},
		{"GPU-nope", []int{0}, "no GPU with UUID GPU-nope"},
		{"MIG-abc", []int{0}, "MIG instances are not supported"},
		{"", []int{-1}, "GPU -1 requested"},
	}
	for _, c := range cases {
		shut := 0
		srv := fakeDGX(t)
		srv.ShutdownFunc = func() nvml.Return { shut++; return nvml.SUCCESS }
		_, err := Start(context.Background(), Options{NVML: srv, VisibleDevices: c.visible, Devices: c.devices})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("visible %q devices %v: err = %v, want %q", c.visible, c.devices, err, c.msg)
		}
		if shut != 1 {
			t.Errorf("visible %q devices %v: NVML shut down %d times, want 1", c.visible, c.devices, shut)
		}
	}
	if _, err := Start(context.Background(), Options{Interval: -time.Second}); err == nil {
		t.Error("negative interval accepted")
	}
}

func TestUnsupportedFieldIsNaN(t *testing.T) {
	srv := fakeDGX(t)
	srv.Devices[0].(*server.Device).GetPowerUsageFunc = func() (uint32, nvml.Return) {
		return 0, nvml.ERROR_NOT_SUPPORTED
	}
	s := startT(t, Options{NVML: srv, Devices: []int{0}, Interval: time.Hour})
	for range 3 {
		got := s.Read()
		if !math.IsNaN(got[0].PowerW) || got[0].Util != 10 {
			t.Fatalf("sample %+v: want NaN power and util 10", got[0])
		}
	}
	w := s.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "gpu0 power") || !strings.Contains(w[0], "NOT_SUPPORTED") {
		t.Errorf("warnings %q, want one about gpu0 power", w)
	}
}

func TestSamplerLoop(t *testing.T) {
	srv := fakeDGX(t)
	var shut atomic.Int32
	srv.ShutdownFunc = func() nvml.Return { shut.Add(1); return nvml.SUCCESS }
	s, err := Start(context.Background(), Options{NVML: srv, Devices: []int{0, 1}, Interval: 2 * time.Millisecond, MaxSamples: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var all []Sample
	deadline := time.Now().Add(5 * time.Second)
	for len(all) < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		all = append(all, s.Drain()...)
	}
	s.Stop()
	s.Stop() // idempotent
	if len(all) < 6 {
		t.Fatalf("only %d samples after 5 s at a 2 ms interval", len(all))
	}
	for i := 2; i < len(all); i++ {
		if all[i].Device != all[i-2].Device || all[i].Elapsed <= all[i-2].Elapsed {
			t.Fatalf("samples out of order: %d %s %v after %s %v", i, all[i].Device, all[i].Elapsed, all[i-2].Device, all[i-2].Elapsed)
		}
	}
	if shut.Load() != 1 {
		t.Errorf("NVML shut down %d times, want 1", shut.Load())
	}
	time.Sleep(10 * time.Millisecond)
	s.Drain()
	time.Sleep(10 * time.Millisecond)
	if late := s.Drain(); len(late) != 0 {
		t.Errorf("%d samples taken after Stop", len(late))
	}
}

func TestMaxSamplesDropsOldest(t *testing.T) {
	s := startT(t, Options{NVML: fakeDGX(t), Devices: []int{0}, Interval: time.Hour, MaxSamples: 3})
	base := time.Now()
	for i := range 5 {
		s.collect(base.Add(time.Duration(i) * time.Second))
	}
	got := s.Drain()
	if len(got) != 3 || s.Dropped() != 2 {
		t.Fatalf("kept %d, dropped %d; want 3 and 2", len(got), s.Dropped())
	}
	if got[0].Time != base.Add(2*time.Second) {
		t.Errorf("oldest kept sample at %v, want the third", got[0].Time.Sub(base))
	}
}

func TestContextEndsSampling(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{NVML: fakeDGX(t), Devices: []int{0}, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("sampler goroutine still running after the context ended")
	}
	s.Stop()
}
