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

// asHost reads a Device buffer on the CPU as the host memory it is.
func asHost(buf collective.Buffer) collective.Buffer {
	if dv, ok := buf.(collective.Device); ok {
		p := *(*unsafe.Pointer)(unsafe.Pointer(&dv.Ptr))
		return collective.Host(unsafe.Slice((*float32)(p), dv.Count))
	}
	return buf
}

func (h hostView) AllReduce(ctx context.Context, buf collective.Buffer, op collective.Op) error {
	return h.Communicator.AllReduce(ctx, asHost(buf), op)
}

func (h hostView) ReduceScatter(ctx context.Context, buf collective.Buffer, op collective.Op) error {
	return h.Communicator.ReduceScatter(ctx, asHost(buf), op)
}

func (h hostView) AllGather(ctx context.Context, send, recv collective.Buffer) error {
	return h.Communicator.AllGather(ctx, asHost(send), asHost(recv))
}
