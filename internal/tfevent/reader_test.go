package tfevent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file is the test's own reader of event files, written from the format's public
// description (TFRecord framing: uint64 length, masked CRC-32C of the length, data, masked CRC-32C
// of the data; Event, Summary and SessionLog of tensorflow's event.proto and summary.proto in the
// protocol buffer wire format). It shares no code with the writer: its CRC-32C is computed bit by
// bit from the reflected Castagnoli polynomial.

// crc32cBitwise is CRC-32C computed one bit at a time (reflected polynomial 0x82F63B78).
func crc32cBitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82F63B78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func masked(b []byte) uint32 {
	c := crc32cBitwise(b)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// readRecords splits a TFRecord file into its records. A last record cut short (a killed writer)
// ends the file: torn reports it. A complete record whose CRC does not check is an error.
func readRecords(file []byte) (records [][]byte, torn bool, err error) {
	for off := 0; off < len(file); {
		if len(file)-off < 12 {
			return records, true, nil
		}
		head := file[off : off+8]
		n := binary.LittleEndian.Uint64(head)
		if binary.LittleEndian.Uint32(file[off+8:]) != masked(head) {
			return nil, false, fmt.Errorf("record at %d: length CRC does not check", off)
		}
		if uint64(len(file)-off-12) < n+4 {
			return records, true, nil
		}
		data := file[off+12 : off+12+int(n)]
		if binary.LittleEndian.Uint32(file[off+12+int(n):]) != masked(data) {
			return nil, false, fmt.Errorf("record at %d: data CRC does not check", off)
		}
		records = append(records, data)
		off += 12 + int(n) + 4
	}
	return records, false, nil
}

// field is one field of a protocol buffer message.
type field struct {
	num  int
	wire int
	u    uint64 // varint, fixed64 or fixed32 value
	b    []byte // length-delimited value
}

func fields(msg []byte) ([]field, error) {
	var out []field
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return nil, errors.New("bad field key")
		}
		msg = msg[n:]
		f := field{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case 0:
			f.u, n = binary.Uvarint(msg)
			if n <= 0 {
				return nil, errors.New("bad varint")
			}
			msg = msg[n:]
		case 1:
			if len(msg) < 8 {
				return nil, errors.New("short fixed64")
			}
			f.u, msg = binary.LittleEndian.Uint64(msg), msg[8:]
		case 5:
			if len(msg) < 4 {
				return nil, errors.New("short fixed32")
			}
			f.u, msg = uint64(binary.LittleEndian.Uint32(msg)), msg[4:]
		case 2:
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return nil, errors.New("bad length")
			}
			f.b, msg = msg[n:n+int(l)], msg[n+int(l):]
		default:
			return nil, fmt.Errorf("wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

// event is what the reader makes of one Event.
type event struct {
	wall        float64
	step        int64
	fileVersion string
	tags        []string
	values      []float32
	sessionLog  int // SessionLog status; 0 when absent
}

func decodeEvent(msg []byte) (event, error) {
	var e event
	fs, err := fields(msg)
	if err != nil {
		return e, err
	}
	for _, f := range fs {
		switch {
		case f.num == 1 && f.wire == 1:
			e.wall = math.Float64frombits(f.u)
		case f.num == 2 && f.wire == 0:
			e.step = int64(f.u)
		case f.num == 3 && f.wire == 2:
			e.fileVersion = string(f.b)
		case f.num == 5 && f.wire == 2:
			vs, err := fields(f.b)
			if err != nil {
				return e, err
			}
			for _, v := range vs {
				if v.num != 1 || v.wire != 2 {
					return e, fmt.Errorf("summary field %d", v.num)
				}
				parts, err := fields(v.b)
				if err != nil {
					return e, err
				}
				var tag string
				var val float32
				for _, p := range parts {
					switch {
					case p.num == 1 && p.wire == 2:
						tag = string(p.b)
					case p.num == 2 && p.wire == 5:
						val = math.Float32frombits(uint32(p.u))
					default:
						return e, fmt.Errorf("summary value field %d", p.num)
					}
				}
				e.tags, e.values = append(e.tags, tag), append(e.values, val)
			}
		case f.num == 7 && f.wire == 2:
			ls, err := fields(f.b)
			if err != nil {
				return e, err
			}
			for _, l := range ls {
				if l.num == 1 && l.wire == 0 {
					e.sessionLog = int(l.u)
				}
			}
		default:
			return e, fmt.Errorf("event field %d wire %d", f.num, f.wire)
		}
	}
	return e, nil
}

// readEvents reads an event file's bytes with the functions above.
func readEvents(file []byte) ([]event, bool, error) {
	recs, torn, err := readRecords(file)
	if err != nil {
		return nil, false, err
	}
	out := make([]event, len(recs))
	for i, r := range recs {
		if out[i], err = decodeEvent(r); err != nil {
			return nil, false, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return out, torn, nil
}
