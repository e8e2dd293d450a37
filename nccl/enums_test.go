package nccl

import "testing"

// The numeric values are NCCL's ABI (nccl.h): a wrong one silently runs
// the wrong reduction or type on a real GPU.
func TestABIConstants(t *testing.T) {
	types := map[DataType]int32{Int8: 0, Uint8: 1, Int32: 2, Uint32: 3, Int64: 4, Uint64: 5,
		Float16: 6, Float32: 7, Float64: 8, Bfloat16: 9, Float8E4M3: 10, Float8E5M2: 11}
	for d, v := range types {
		if int32(d) != v {
			t.Errorf("%v = %d, want %d", d, int32(d), v)
		}
	}
	sizes := map[DataType]int{Int8: 1, Float8E5M2: 1, Float16: 2, Bfloat16: 2, Float32: 4, Int32: 4, Float64: 8, Uint64: 8, DataType(12): 0}
	for d, s := range sizes {
		if d.Size() != s {
			t.Errorf("%v.Size() = %d, want %d", d, d.Size(), s)
		}
	}
	ops := map[RedOp]int32{Sum: 0, Prod: 1, Max: 2, Min: 3, Avg: 4}
	for o, v := range ops {
		if int32(o) != v {
			t.Errorf("%v = %d, want %d", o, int32(o), v)
		}
	}
	results := map[Result]int32{Success: 0, UnhandledCudaError: 1, SystemError: 2, InternalError: 3,
		InvalidArgument: 4, InvalidUsage: 5, RemoteError: 6, InProgress: 7, Timeout: 8}
	for r, v := range results {
		if int32(r) != v {
			t.Errorf("%v = %d, want %d", r, int32(r), v)
		}
	}
	if RemoteError.String() != "ncclRemoteError" || Result(42).String() != "ncclResult(42)" {
		t.Errorf("Result names: %v %v", RemoteError, Result(42))
	}
	if Bfloat16.String() != "bfloat16" || Avg.String() != "avg" {
		t.Errorf("names: %v %v", Bfloat16, Avg)
	}
	if cudaErrorNotReady != 600 || cudaStreamDefault != 0 {
		t.Error("CUDA runtime constants changed")
	}
}

func TestDecodeVersion(t *testing.T) {
	cases := []struct {
		code int
		want Version
	}{
		{2708, Version{2, 7, 8}},
		{2804, Version{2, 8, 4}},
		{20906, Version{2, 9, 6}},
		{21003, Version{2, 10, 3}},
		{21304, Version{2, 13, 4}},
		{22703, Version{2, 27, 3}},
		{23007, Version{2, 30, 7}},
	}
	for _, c := range cases {
		got := DecodeVersion(c.code)
		if got != c.want {
			t.Errorf("DecodeVersion(%d) = %v, want %v", c.code, got, c.want)
		}
		if got.Code() != c.code {
			t.Errorf("%v.Code() = %d, want %d", got, got.Code(), c.code)
		}
	}
	v := Version{2, 13, 4}
	if !v.AtLeast(2, 13, 4) || !v.AtLeast(2, 10, 3) || v.AtLeast(2, 13, 5) || v.AtLeast(3, 0, 0) || !v.AtLeast(1, 99, 99) {
		t.Error("AtLeast is wrong")
	}
	if s := (Version{2, 30, 7}).String(); s != "2.30.7" {
		t.Errorf("String = %q", s)
	}
	if s := CUDAVersion(12040).String(); s != "12.4" {
		t.Errorf("CUDAVersion(12040) = %q", s)
	}
	if s := CUDAVersion(13000).String(); s != "13.0" {
		t.Errorf("CUDAVersion(13000) = %q", s)
	}
}
