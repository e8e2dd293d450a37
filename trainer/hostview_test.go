package trainer

import (
	"context"
	"unsafe"

	"github.com/unigrpo/unigrpo/collective"
)

// hostView lets a host communicator stand in for a device one when the "device" is the CPU:
// it reads a collective.Device buffer as host memory. Tests use it to run the fused-buffer path
// without a GPU.
type hostView struct{ collective.Communicator }

func (h hostView) AllReduce(ctx context.Context, buf collective.Buffer, op collective.Op) error {
	if dv, ok := buf.(collective.Device); ok {
		// The device is the CPU: the pointer is libtorch's host memory.
		p := *(*unsafe.Pointer)(unsafe.Pointer(&dv.Ptr))
		buf = collective.Host(unsafe.Slice((*float32)(p), dv.Count))
	}
	return h.Communicator.AllReduce(ctx, buf, op)
}
