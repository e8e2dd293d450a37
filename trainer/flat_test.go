package trainer

import (
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/captioner"
)

// WriteParams then ReadParams gives the values back, on both of its paths: the direct memory
// write of CPU parameters, and the tensor copy used for device parameters (taken here on CPU
// tensors by laying the vector out as for a CUDA model). The copy path once sent a flat vector
// into matrices, which libtorch refuses; it first ran on a GPU.
func TestFlatWriteReadParams(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, err := captioner.New(tinyModel(), tinyDevice, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, dev := range []gotch.Device{gotch.CPU, gotch.CudaBuilder(0)} {
		f := NewFlat(m.TrainableParams(), dev)
		x := make([]float32, f.N)
		for i := range x {
			x[i] = float32(i%97) * 0.01
		}
		if err := f.WriteParams(x); err != nil {
			t.Fatalf("%v layout: %v", dev, err)
		}
		y := make([]float32, f.N)
		if err := f.ReadParams(y); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(x, y); d != 0 {
			t.Errorf("%v layout: values come back off by up to %g", dev, d)
		}
	}
}

// The streamed checksum (values read a piece at a time, pieces crossing parameter boundaries)
// equals the CRC-32 of the whole vector read at once, for the host and the device optimizer.
// Oracle: Checksum over Flat.ReadParams.
func TestStreamedChecksum(t *testing.T) {
	for _, where := range []string{"host", "device"} {
		r := newOptimizerRun(t, where)
		whole := make([]float32, r.l.flat.N)
		if err := r.l.flat.ReadParams(whole); err != nil {
			t.Fatal(err)
		}
		got, err := r.l.checksumBy(777)
		if err != nil {
			t.Fatal(err)
		}
		part := make([]float32, 1000)
		if err := r.l.opt.params(r.l.flat.N-1000, part); err != nil || !slices.Equal(part, whole[r.l.flat.N-1000:]) {
			t.Errorf("%s: the last 1000 values read as a range differ (%v)", where, err)
		}
		if want := Checksum(whole); got != want {
			t.Errorf("%s: streamed checksum %08x, whole-vector %08x", where, got, want)
		}
		r.close()
	}
}
