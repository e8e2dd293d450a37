package collective

import "fmt"

// Buffer describes a float32 buffer that a Communicator operates on.
// Backends accept the concrete types they know: the CPU ring takes [Host],
// GPU backends take [Device].
type Buffer interface {
	// Len returns the number of float32 elements.
	Len() int
}

// Host is a buffer in host memory.
type Host []float32

// Len returns the number of elements.
func (h Host) Len() int { return len(h) }

// Device is a buffer of Count float32 elements in accelerator memory,
// starting at the device address Ptr. Only GPU backends can use it.
type Device struct {
	Ptr   uintptr
	Count int
}

// Len returns the number of elements.
func (d Device) Len() int { return d.Count }

// Op is the element-wise reduction of an all-reduce.
type Op int

// The supported reductions.
const (
	// Sum adds the buffers of all ranks.
	Sum Op = iota
	// Avg adds the buffers of all ranks and divides by the world size.
	Avg
	// Max keeps the element-wise maximum.
	Max
)

// String returns the lower-case name of the reduction.
func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Avg:
		return "avg"
	case Max:
		return "max"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Valid reports whether o is one of the defined reductions.
func (o Op) Valid() bool { return o >= Sum && o <= Max }
