package tfevent

import (
	"encoding/binary"
	"math"
)

// Field numbers of the protocol buffers written (tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto, as TensorBoard's compat protos copy them).
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string
	eventSummary     = 5 // Summary
	eventSessionLog  = 7 // SessionLog

	summaryValue = 1 // repeated Summary.Value

	valueTag         = 1 // string
	valueSimpleValue = 2 // float

	sessionLogStatus = 1 // SessionLog.SessionStatus
	sessionStart     = 1 // SessionLog.START
)

// Protocol buffer wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// FileVersion is the file_version of the first event of every file: version 2 tells TensorBoard
// that a SessionLog START purges the events of later steps from an earlier, interrupted session.
const FileVersion = "brain.Event:2"

// Scalar is one named value of a step.
type Scalar struct {
	Tag   string
	Value float64 // stored as a 32-bit float, as Summary.Value.simple_value is
}

func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

func appendBytes(b []byte, field int, data []byte) []byte {
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// appendHeader appends an Event's wall_time (seconds since the epoch) and step.
func appendHeader(b []byte, wall float64, step int64) []byte {
	b = appendTag(b, eventWallTime, wireFixed64)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(wall))
	b = appendTag(b, eventStep, wireVarint)
	return binary.AppendUvarint(b, uint64(step)) // int64: two's complement as a 64-bit varint
}

// fileVersionEvent is the Event that opens a file.
func fileVersionEvent(wall float64) []byte {
	b := appendHeader(nil, wall, 0)
	return appendBytes(b, eventFileVersion, []byte(FileVersion))
}

// scalarEvent is an Event whose Summary holds one simple_value per scalar, in the given order.
func scalarEvent(wall float64, step int64, scalars []Scalar) []byte {
	var summary, value []byte
	for _, s := range scalars {
		value = appendBytes(value[:0], valueTag, []byte(s.Tag))
		value = appendTag(value, valueSimpleValue, wireFixed32)
		value = binary.LittleEndian.AppendUint32(value, math.Float32bits(float32(s.Value)))
		summary = appendBytes(summary, summaryValue, value)
	}
	return appendBytes(appendHeader(nil, wall, step), eventSummary, summary)
}

// startEvent is an Event holding SessionLog{status: START} at step: TensorBoard then drops the
// events of this step and later ones that an earlier file of the folder holds.
func startEvent(wall float64, step int64) []byte {
	var log []byte
	log = appendTag(log, sessionLogStatus, wireVarint)
	log = binary.AppendUvarint(log, sessionStart)
	return appendBytes(appendHeader(nil, wall, step), eventSessionLog, log)
}
