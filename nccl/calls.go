package nccl

/*
#include "binding.h"
*/
import "C"

import "unsafe"

// rawComm is an ncclComm_t.
type rawComm uintptr

// result converts an ncclResult_t into an error carrying NCCL's strings;
// comm (may be 0) is asked for its last error message.
func (l *Library) result(fn string, r C.int, comm rawComm) error {
	if Result(r) == Success {
		return nil
	}
	return &ResultError{Func: fn, Result: Result(r), Text: l.ErrorString(Result(r)), Last: l.LastError(comm)}
}

// ErrorString is ncclGetErrorString.
func (l *Library) ErrorString(r Result) string {
	if s := C.ug_nccl_error_string(C.uintptr_t(l.nccl.getErrorString), C.int(r)); s != nil {
		return C.GoString(s)
	}
	return r.String()
}

// HasLastError reports whether the library has ncclGetLastError (2.13.4+).
func (l *Library) HasLastError() bool { return l.nccl.getLastError != 0 }

// LastError is ncclGetLastError for comm (0 for errors outside a
// communicator), or "" when the library lacks it.
func (l *Library) LastError(comm rawComm) string {
	if l.nccl.getLastError == 0 {
		return ""
	}
	if s := C.ug_nccl_last_error(C.uintptr_t(l.nccl.getLastError), C.uintptr_t(comm)); s != nil {
		return C.GoString(s)
	}
	return ""
}

// Version returns the NCCL version.
func (l *Library) Version() (Version, error) {
	var v C.int
	if err := l.result("ncclGetVersion", C.ug_nccl_int_out(C.uintptr_t(l.nccl.getVersion), &v), 0); err != nil {
		return Version{}, err
	}
	return DecodeVersion(int(v)), nil
}

// GetUniqueID creates a new unique id (ncclGetUniqueId). The process that
// created it must stay alive until every rank has initialised.
func (l *Library) GetUniqueID() (UniqueID, error) {
	var id C.ug_nccl_unique_id
	if err := l.result("ncclGetUniqueId", C.ug_nccl_get_unique_id(C.uintptr_t(l.nccl.getUniqueID), &id), 0); err != nil {
		return UniqueID{}, err
	}
	var out UniqueID
	copy(out[:], C.GoBytes(unsafe.Pointer(&id.internal[0]), C.int(len(out))))
	return out, nil
}

// commInitRank is ncclCommInitRank; the caller has set the device on the
// calling (locked) thread.
func (l *Library) commInitRank(size int, id UniqueID, rank int) (rawComm, error) {
	var cid C.ug_nccl_unique_id
	for i := range id {
		cid.internal[i] = C.char(id[i])
	}
	var comm C.uintptr_t
	r := C.ug_nccl_comm_init_rank(C.uintptr_t(l.nccl.commInitRank), &comm, C.int(size), &cid, C.int(rank))
	return rawComm(comm), l.result("ncclCommInitRank", r, 0)
}

// GroupStart is ncclGroupStart. NCCL's group state is per thread: the
// calls of a group and GroupEnd must run on the same locked OS thread
// (Comm.Group does this).
func (l *Library) GroupStart() error {
	return l.result("ncclGroupStart", C.ug_nccl_void(C.uintptr_t(l.nccl.groupStart)), 0)
}

// GroupEnd is ncclGroupEnd; see GroupStart.
func (l *Library) GroupEnd() error {
	return l.result("ncclGroupEnd", C.ug_nccl_void(C.uintptr_t(l.nccl.groupEnd)), 0)
}

func (l *Library) allReduce(send, recv uintptr, count int, dt DataType, op RedOp, comm rawComm, s Stream) error {
	r := C.ug_nccl_all_reduce(C.uintptr_t(l.nccl.allReduce), C.uintptr_t(send), C.uintptr_t(recv), C.size_t(count),
		C.int(dt), C.int(op), C.uintptr_t(comm), C.uintptr_t(s))
	return l.result("ncclAllReduce", r, comm)
}

func (l *Library) broadcast(send, recv uintptr, count int, dt DataType, root int, comm rawComm, s Stream) error {
	r := C.ug_nccl_broadcast(C.uintptr_t(l.nccl.broadcast), C.uintptr_t(send), C.uintptr_t(recv), C.size_t(count),
		C.int(dt), C.int(root), C.uintptr_t(comm), C.uintptr_t(s))
	return l.result("ncclBroadcast", r, comm)
}

func (l *Library) allGather(send, recv uintptr, sendCount int, dt DataType, comm rawComm, s Stream) error {
	r := C.ug_nccl_all_gather(C.uintptr_t(l.nccl.allGather), C.uintptr_t(send), C.uintptr_t(recv), C.size_t(sendCount),
		C.int(dt), C.uintptr_t(comm), C.uintptr_t(s))
	return l.result("ncclAllGather", r, comm)
}

func (l *Library) reduceScatter(send, recv uintptr, recvCount int, dt DataType, op RedOp, comm rawComm, s Stream) error {
	r := C.ug_nccl_reduce_scatter(C.uintptr_t(l.nccl.reduceScatter), C.uintptr_t(send), C.uintptr_t(recv), C.size_t(recvCount),
		C.int(dt), C.int(op), C.uintptr_t(comm), C.uintptr_t(s))
	return l.result("ncclReduceScatter", r, comm)
}

// commCall runs ncclCommFinalize, ncclCommDestroy or ncclCommAbort.
func (l *Library) commCall(fn string, f uintptr, comm rawComm) error {
	return l.result(fn, C.ug_nccl_comm(C.uintptr_t(f), C.uintptr_t(comm)), 0)
}

// commInt runs ncclCommCount, ncclCommCuDevice or ncclCommUserRank.
func (l *Library) commInt(fn string, f uintptr, comm rawComm) (int, error) {
	var v C.int
	err := l.result(fn, C.ug_nccl_comm_int_out(C.uintptr_t(f), C.uintptr_t(comm), &v), comm)
	return int(v), err
}

// asyncError is ncclCommGetAsyncError: nil while the communicator is
// healthy (or still initialising), otherwise the pending error.
func (l *Library) asyncError(comm rawComm) error {
	var r C.int
	if err := l.result("ncclCommGetAsyncError", C.ug_nccl_comm_int_out(C.uintptr_t(l.nccl.commGetAsyncError), C.uintptr_t(comm), &r), comm); err != nil {
		return err
	}
	if res := Result(r); res != Success && res != InProgress {
		return &ResultError{Func: "ncclCommGetAsyncError", Result: res, Text: l.ErrorString(res), Last: l.LastError(comm)}
	}
	return nil
}
