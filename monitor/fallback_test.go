package monitor

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
)

// TestFallbackOnThisMachine uses the real NVML binding: on a machine
// without the NVIDIA driver it must fall back to the process's CPU use.
func TestFallbackOnThisMachine(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	s := startT(t, Options{Interval: time.Hour})
	if s.Source() == SourceNVML {
		t.Skip("NVML works here; the fallback is covered by the mock tests")
	}
	if !strings.Contains(s.Notice(), "sampling this process's CPU use") {
		t.Errorf("notice %q", s.Notice())
	}
	// Burn some CPU so the next reading has something to measure.
	deadline := time.Now().Add(150 * time.Millisecond)
	x := 0.0
	for time.Now().Before(deadline) {
		x += math.Sqrt(x + 1)
	}
	got := s.Read()
	if len(got) != 1 || got[0].Device != "cpu" {
		t.Fatalf("samples %+v, want one cpu sample", got)
	}
	if !(got[0].Util > 0) || !(got[0].MemUsedMiB > 1) {
		t.Errorf("cpu sample %+v: want CPU use > 0 and RSS > 1 MiB (x=%v)", got[0], x)
	}
	if !math.IsNaN(got[0].PowerW) {
		t.Errorf("power %v for the CPU fallback, want NaN", got[0].PowerW)
	}
}

func TestFallbackReasons(t *testing.T) {
	notFound := dgxa100.New()
	notFound.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	driver := dgxa100.New()
	driver.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
	cases := []struct {
		opts Options
		want string
	}{
		{Options{NVML: notFound}, "libnvidia-ml.so.1) not found"},
		{Options{NVML: driver}, "NVML init failed (ERROR_DRIVER_NOT_LOADED)"},
		{Options{NVML: dgxa100.NewWithGPUs(gpus.Multiple(0, gpus.A100_SXM4_40GB)...)}, "NVML reports no GPU"},
		{Options{NoGPU: true, NVML: dgxa100.New()}, "GPU monitoring disabled"},
	}
	for _, c := range cases {
		c.opts.Interval = time.Hour
		s := startT(t, c.opts)
		if s.Source() != SourceCPU || !strings.Contains(s.Notice(), c.want) {
			t.Errorf("source %q notice %q, want cpu and %q", s.Source(), s.Notice(), c.want)
		}
	}
}

func writeProc(t *testing.T, dir string, ticksU, ticksS int, rssKB int) {
	t.Helper()
	stat := fmt.Sprintf("4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 3 0 100 1000 200", ticksU, ticksS)
	status := fmt.Sprintf("Name:\tmy prog\nVmPeak:\t 99999 kB\nVmRSS:\t %d kB\nThreads:\t3\n", rssKB)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProcSourceArithmetic(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, 300, 100, 2048)
	t0 := time.Unix(1000, 0)
	w := &warnings{}
	p, err := newProcSource(dir, t0, w)
	if err != nil {
		t.Fatal(err)
	}
	// 150 ticks (1.5 s of CPU) over 2 s of wall time: 75 %.
	writeProc(t, dir, 400, 150, 3072)
	got := p.read(t0.Add(2*time.Second), 2*time.Second)[0]
	if math.Abs(got.Util-75) > 1e-9 || got.MemUsedMiB != 3 {
		t.Errorf("sample %+v, want util 75 and 3 MiB", got)
	}
	// Two busy cores for 1 s: 200 %.
	writeProc(t, dir, 600, 150, 3072)
	got = p.read(t0.Add(3*time.Second), 3*time.Second)[0]
	if math.Abs(got.Util-200) > 1e-9 {
		t.Errorf("util %v, want 200", got.Util)
	}
	// A broken status file: RSS is NaN and a warning is recorded.
	os.WriteFile(filepath.Join(dir, "status"), []byte("Name: x\n"), 0o644)
	got = p.read(t0.Add(4*time.Second), 4*time.Second)[0]
	if !math.IsNaN(got.MemUsedMiB) || len(w.list()) != 1 || !strings.Contains(w.list()[0], "no VmRSS line") {
		t.Errorf("rss %v warnings %q", got.MemUsedMiB, w.list())
	}
}

func TestProcParseErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stat"), []byte("12 (short) S 1 2"), 0o644)
	if _, err := cpuTicks(filepath.Join(dir, "stat")); err == nil || !strings.Contains(err.Error(), "want at least 13") {
		t.Errorf("short stat: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "status"), []byte("VmRSS:\t12 MB\n"), 0o644)
	if _, err := rssMiB(filepath.Join(dir, "status")); err == nil || !strings.Contains(err.Error(), "unexpected VmRSS") {
		t.Errorf("bad unit: err = %v", err)
	}
	// Neither GPU nor /proc: Start fails and says both.
	_, err := Start(context.Background(), Options{NoGPU: true, ProcDir: filepath.Join(dir, "missing")})
	if err == nil || !strings.Contains(err.Error(), "no GPU metrics") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("err = %v", err)
	}
}
