package plots

import (
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeviceSamplesFromMetrics(t *testing.T) {
	lines := strings.Join([]string{
		`{"step":1,"dev_t":0.5,"dev_gpu10_util":10,"dev_gpu2_util":20,"dev_gpu2_mem_used_mib":1000,"dev_gpu2_power_w":300,"dev_gpu2_bogus":1,"dev_x":3}`,
		`{"step":2,"dev_t":1.5,"dev_gpu2_util":30,"dev_gpu2_temp_c":60,"dev_gpu2_sm_clock_mhz":1980,"dev_gpu2_mem_total_mib":81559}`,
		`{"step":3,"dev_cpu_util":150,"dev_cpu_mem_used_mib":512}`,
		`{"step":4,"dev_t":9,"dev_cpu10_util":1,"dev_cpu2_util":2}`,
	}, "\n")
	m, err := DecodeMetrics(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	got := DeviceSamplesFromMetrics(m)
	if len(got) != 6 {
		t.Fatalf("got %d samples, want 6: %+v", len(got), got)
	}
	// Order: gpu2 (t 0.5, 1.5), gpu10, then cpu, cpu2, cpu10.
	var order []string
	for _, s := range got {
		order = append(order, s.Device)
	}
	if strings.Join(order, " ") != "gpu2 gpu2 gpu10 cpu cpu2 cpu10" {
		t.Fatalf("device order %v", order)
	}
	a, b := got[0], got[1]
	if a.T != 0.5 || a.Util != 20 || a.MemUsedMiB != 1000 || a.PowerW != 300 || !math.IsNaN(a.TempC) {
		t.Errorf("gpu2 first sample %+v", a)
	}
	if b.T != 1.5 || b.Util != 30 || b.TempC != 60 || b.SMClockMHz != 1980 || b.MemTotalMiB != 81559 || !math.IsNaN(b.PowerW) {
		t.Errorf("gpu2 second sample %+v", b)
	}
	// No dev_t on the cpu line: the step stands in for the time.
	if c := got[3]; c.T != 3 || c.Util != 150 || c.MemUsedMiB != 512 {
		t.Errorf("cpu sample %+v", c)
	}
}

func gpuSamples(devs, n int) []DeviceSample {
	var out []DeviceSample
	for i := range n {
		for d := range devs {
			t := float64(i)
			out = append(out, DeviceSample{
				T: t, Device: "gpu" + string(rune('0'+d)),
				Util: 50 + 40*math.Sin(t/5+float64(d)), MemUsedMiB: 20000 + 100*t, MemTotalMiB: 81559,
				PowerW: 300 + 10*float64(d), TempC: 60, SMClockMHz: 1980,
			})
		}
	}
	return out
}

func TestDevicesGPU(t *testing.T) {
	dir := t.TempDir()
	if err := Devices(gpuSamples(4, 60), dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DevicesFile), devicesW*DPI, int(devicesGPUH*DPI))
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	for i := range 4 {
		r := image.Rect((i%2)*w/2, (i/2)*h/2, (i%2+1)*w/2, (i/2+1)*h/2)
		if n := colored(img, r); n < 200 {
			t.Errorf("device panel %d has %d coloured pixels", i, n)
		}
	}
	noTempFiles(t, dir)
}

func TestDevicesGPUWithoutPower(t *testing.T) {
	dir := t.TempDir()
	s := gpuSamples(1, 30)
	for i := range s {
		s[i].PowerW = math.NaN()
	}
	if err := Devices(s, dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DevicesFile), devicesW*DPI, int(devicesGPUH*DPI))
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if n := colored(img, image.Rect(0, h/2, w/2, h)); n != 0 {
		t.Errorf("power panel without readings has %d coloured pixels", n)
	}
	if n := colored(img, image.Rect(0, 0, w/2, h/2)); n == 0 {
		t.Error("utilisation panel is empty")
	}
}

func TestDevicesCPUAndEmpty(t *testing.T) {
	dir := t.TempDir()
	var s []DeviceSample
	for i := range 20 {
		for _, dev := range []string{"cpu1", "cpu0"} {
			s = append(s, DeviceSample{T: float64(i), Device: dev, Util: float64(90 + i), MemUsedMiB: float64(300 + i),
				MemTotalMiB: math.NaN(), PowerW: math.NaN(), TempC: math.NaN(), SMClockMHz: math.NaN()})
		}
	}
	if err := Devices(s, dir); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, filepath.Join(dir, DevicesFile), devicesW*DPI, int(devicesCPUH*DPI))
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	for i := range 2 {
		if n := colored(img, image.Rect(i*w/2, 0, (i+1)*w/2, h)); n < 100 {
			t.Errorf("cpu panel %d has %d coloured pixels", i, n)
		}
	}
	empty := t.TempDir()
	if err := Devices(nil, empty); err != nil {
		t.Fatal(err)
	}
	img = decodePNG(t, filepath.Join(empty, DevicesFile), devicesW*DPI, int(devicesCPUH*DPI))
	if n := colored(img, img.Bounds()); n != 0 {
		t.Errorf("no samples drew %d coloured pixels", n)
	}
}
