package nccl

import "fmt"

// DataType is ncclDataType_t; the values are NCCL's ABI.
type DataType int32

// NCCL data types.
const (
	Int8       DataType = 0
	Uint8      DataType = 1
	Int32      DataType = 2
	Uint32     DataType = 3
	Int64      DataType = 4
	Uint64     DataType = 5
	Float16    DataType = 6
	Float32    DataType = 7
	Float64    DataType = 8
	Bfloat16   DataType = 9
	Float8E4M3 DataType = 10 // NCCL 2.24+
	Float8E5M2 DataType = 11 // NCCL 2.24+
)

// Size returns the size of one element in bytes, or 0 for an unknown type.
func (d DataType) Size() int {
	switch d {
	case Int8, Uint8, Float8E4M3, Float8E5M2:
		return 1
	case Float16, Bfloat16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	}
	return 0
}

func (d DataType) String() string {
	names := [...]string{"int8", "uint8", "int32", "uint32", "int64", "uint64",
		"float16", "float32", "float64", "bfloat16", "float8e4m3", "float8e5m2"}
	if d >= 0 && int(d) < len(names) {
		return names[d]
	}
	return fmt.Sprintf("DataType(%d)", int32(d))
}

// RedOp is ncclRedOp_t; the values are NCCL's ABI.
type RedOp int32

// NCCL reduction operations.
const (
	Sum  RedOp = 0
	Prod RedOp = 1
	Max  RedOp = 2
	Min  RedOp = 3
	Avg  RedOp = 4 // NCCL 2.10.3+
)

func (o RedOp) String() string {
	names := [...]string{"sum", "prod", "max", "min", "avg"}
	if o >= 0 && int(o) < len(names) {
		return names[o]
	}
	return fmt.Sprintf("RedOp(%d)", int32(o))
}

// Result is ncclResult_t; the values are NCCL's ABI.
type Result int32

// NCCL results.
const (
	Success            Result = 0
	UnhandledCudaError Result = 1
	SystemError        Result = 2
	InternalError      Result = 3
	InvalidArgument    Result = 4
	InvalidUsage       Result = 5
	RemoteError        Result = 6
	InProgress         Result = 7
	Timeout            Result = 8 // NCCL 2.30+
)

// String returns NCCL's enumerator name, e.g. "ncclRemoteError".
func (r Result) String() string {
	names := [...]string{"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
		"ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress", "ncclTimeout"}
	if r >= 0 && int(r) < len(names) {
		return names[r]
	}
	return fmt.Sprintf("ncclResult(%d)", int32(r))
}

// CUDA runtime values used by the binding (cuda_runtime_api.h ABI).
const (
	cudaSuccess       = 0
	cudaErrorNotReady = 600
	// cudaStreamDefault makes a stream that synchronises with the legacy
	// default stream, where libtorch queues its kernels by default.
	cudaStreamDefault = 0x00
)
