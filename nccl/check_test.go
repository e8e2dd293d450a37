package nccl

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

func mockNVML() *dgxa100.Server {
	srv := dgxa100.New()
	for _, d := range srv.Devices {
		dev := d.(*server.Device)
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: 42}, nvml.SUCCESS }
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
		dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 35, nvml.SUCCESS }
		dev.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 1410, nvml.SUCCESS }
	}
	return srv
}

func fakeCheckOptions() CheckOptions {
	return CheckOptions{
		Load:    LoadOptions{NCCLPath: fakes.nccl, CUDARTPath: fakes.cudart, Dirs: []string{}, NoLoaderPath: true},
		Count:   1000,
		Iters:   2,
		Timeout: 10 * time.Second,
		NVML:    mockNVML(),
	}
}

func TestCheckPassesOnFakes(t *testing.T) {
	fakeLib(t)
	t.Setenv("FAKE_CUDA_DEVICES", "4")
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	var out bytes.Buffer
	if err := Check(context.Background(), &out, fakeCheckOptions()); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"nccl: loaded " + fakes.nccl + " (NCCL 2.30.7)",
		"cuda: loaded " + fakes.cudart + " (runtime 12.4, driver 12.4), 4 device(s) visible",
		"one-rank all-reduce on device 0: 1000 floats copied in, summed, copied back: ok",
		"4-rank all-reduce on devices 0-3: 3.9 KiB per rank, result ok; 2 iterations:",
		"busbw",
		"nvml: gpu3 Mock NVIDIA A100-SXM4-40GB: util 42%, memory 0/40960 MiB, power n/a W, 35 C, SM 1410 MHz",
		"nvml: unreadable fields: gpu0 power: ERROR_NOT_SUPPORTED",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheckFailures(t *testing.T) {
	fakeLib(t)
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	ctx := context.Background()

	t.Setenv("FAKE_CUDA_DEVICES", "2")
	t.Setenv("FAKE_NCCL_CORRUPT", "1")
	err := Check(ctx, &bytes.Buffer{}, fakeCheckOptions())
	if err == nil || !strings.Contains(err.Error(), "one-rank all-reduce: element 999 is 13, want 12: the collective computed a wrong result") {
		t.Errorf("corrupt all-reduce: %v", err)
	}
	t.Setenv("FAKE_NCCL_CORRUPT", "")

	opts := fakeCheckOptions()
	opts.GPUs = 3
	if err := Check(ctx, &bytes.Buffer{}, opts); err == nil || !strings.Contains(err.Error(), "3 GPUs requested but 2 visible") {
		t.Errorf("too many GPUs: %v", err)
	}

	t.Setenv("FAKE_CUDA_DEVICES", "0")
	if err := Check(ctx, &bytes.Buffer{}, fakeCheckOptions()); err == nil || !strings.Contains(err.Error(), "no usable CUDA device") {
		t.Errorf("no device: %v", err)
	}
	t.Setenv("FAKE_CUDA_DEVICES", "1")

	// The real NVML binding: on a machine without the driver the check
	// fails at the NVML step, after the NCCL steps passed.
	opts = fakeCheckOptions()
	opts.NVML = nil
	var out bytes.Buffer
	err = Check(ctx, &out, opts)
	if err == nil {
		if !strings.Contains(out.String(), "nvml: gpu0") {
			t.Errorf("check passed without NVML output:\n%s", out.String())
		}
	} else if !strings.Contains(err.Error(), "nvml: monitor: NVML library (libnvidia-ml.so.1) not found") ||
		!strings.Contains(out.String(), "one-rank all-reduce on device 0") {
		t.Errorf("without NVML: %v\n%s", err, out.String())
	}

	opts = fakeCheckOptions()
	opts.Load = LoadOptions{NCCLPath: filepath.Join(t.TempDir(), "libnccl.so.2"), CUDARTPath: fakes.cudart, Dirs: []string{}, NoLoaderPath: true}
	if err := Check(ctx, &bytes.Buffer{}, opts); err == nil || !strings.Contains(err.Error(), "cannot load NCCL (libnccl.so.2); tried:") {
		t.Errorf("load failure: %v", err)
	}
}
