package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format shared by the store and the ring handshake.
//
// A frame is a 4-byte big-endian payload length followed by the payload.
// A payload is one kind byte followed by fields, each a uvarint length and
// that many bytes. Decoders check every length against the bytes present and
// against a maximum, so hostile input can cost at most one bounded
// allocation and never a panic.

// Frame size limits.
const (
	// maxHelloFrame bounds the first frame of an unauthenticated peer.
	maxHelloFrame = 4 << 10
	// maxFrame bounds every later frame.
	maxFrame = 16 << 20
	// maxFields bounds the number of fields in one message.
	maxFields = 1 << 16
)

// errFrameTooLarge is returned for a length prefix above the limit.
var errFrameTooLarge = errors.New("frame exceeds the size limit")

// message is a decoded payload.
type message struct {
	kind   byte
	fields [][]byte
}

// readFrame reads one frame of at most limit payload bytes.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d > %d bytes", errFrameTooLarge, n, limit)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return payload, nil
}

// appendMessage appends the framed encoding of m to dst.
func appendMessage(dst []byte, m message) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, m.kind)
	for _, f := range m.fields {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// writeMessage writes m as one frame.
func writeMessage(w io.Writer, m message) error {
	buf := appendMessage(nil, m)
	if len(buf)-4 > maxFrame {
		return fmt.Errorf("%w: %d > %d bytes", errFrameTooLarge, len(buf)-4, maxFrame)
	}
	_, err := w.Write(buf)
	return err
}

// decodeMessage parses a payload produced by appendMessage.
func decodeMessage(payload []byte) (message, error) {
	if len(payload) == 0 {
		return message{}, errors.New("empty message")
	}
	m := message{kind: payload[0]}
	rest := payload[1:]
	for len(rest) > 0 {
		if len(m.fields) == maxFields {
			return message{}, fmt.Errorf("more than %d fields", maxFields)
		}
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return message{}, errors.New("malformed field length")
		}
		rest = rest[k:]
		if n > uint64(len(rest)) {
			return message{}, fmt.Errorf("field of %d bytes overruns the message (%d left)", n, len(rest))
		}
		m.fields = append(m.fields, rest[:n:n])
		rest = rest[n:]
	}
	return m, nil
}

// readMessage reads and decodes one frame.
func readMessage(r io.Reader, limit int) (message, error) {
	payload, err := readFrame(r, limit)
	if err != nil {
		return message{}, err
	}
	return decodeMessage(payload)
}

// putInt64 encodes v as an 8-byte field.
func putInt64(v int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(v))
}

// getInt64 decodes an 8-byte field.
func getInt64(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("integer field has %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
