package collective

import (
	"errors"
	"fmt"
	"net"
	"unsafe"
)

// Shared-memory links between ranks on one host.
//
// The sending rank owns a region of shmSlots slots of one segment each,
// shared with the next rank through a memory file passed over their Unix
// socket. To send a segment it copies the data into the next free slot and
// writes one doorbell byte on the socket; the receiver combines the slot
// straight into its buffer (no copy through the kernel) and answers with
// one credit byte. The socket still carries the operation headers, and its
// deadlines and end-of-file give shared-memory links the same timeout and
// dead-peer behaviour as plain sockets.

const (
	shmSlots = 8
	doorbell = 0xDB
	credit   = 0xCC
)

// shmSender fills the slots of the outgoing region.
type shmSender struct {
	mem       []byte
	slots     int
	slotBytes int
	next      int // slot to fill next
	inflight  int // filled slots not yet credited back
	buf       [64]byte
}

// send copies data into a free slot, waiting for a credit when all are in
// use, and rings the doorbell on c.
func (s *shmSender) send(c net.Conn, data []float32) error {
	for s.inflight == s.slots {
		n, err := c.Read(s.buf[:])
		if err != nil {
			return err
		}
		for _, b := range s.buf[:n] {
			if b != credit {
				return errors.New("shared-memory link out of step (bad credit byte)")
			}
		}
		if n > s.inflight {
			return errors.New("shared-memory link out of step (too many credits)")
		}
		s.inflight -= n
	}
	off := s.next * s.slotBytes
	copy(s.mem[off:off+4*len(data)], asBytes(data))
	s.buf[0] = doorbell
	if _, err := c.Write(s.buf[:1]); err != nil {
		return err
	}
	s.inflight++
	s.next = (s.next + 1) % s.slots
	return nil
}

// shmReceiver consumes the slots of the incoming region.
type shmReceiver struct {
	mem       []byte
	slots     int
	slotBytes int
	next      int // slot to consume next
	ready     int // doorbells received, slots not yet consumed
	buf       [64]byte
}

// wait returns the next filled slot as n elements, reading doorbells from c
// when none is pending. left bounds how many doorbells may be read (the
// segments remaining in this operation), so that the next operation's
// header is never consumed.
func (s *shmReceiver) wait(c net.Conn, n, left int) ([]float32, error) {
	if 4*n > s.slotBytes {
		return nil, fmt.Errorf("segment of %d elements exceeds the %d-byte slot", n, s.slotBytes)
	}
	if s.ready == 0 {
		k, err := c.Read(s.buf[:min(left, len(s.buf))])
		if err != nil {
			return nil, err
		}
		for _, b := range s.buf[:k] {
			if b != doorbell {
				return nil, errors.New("shared-memory link out of step (bad doorbell byte)")
			}
		}
		s.ready = k
	}
	off := s.next * s.slotBytes
	return unsafe.Slice((*float32)(unsafe.Pointer(&s.mem[off])), n), nil
}

// release hands the slot returned by wait back to the sender. A failed
// credit is not an error: the sender may have finished the operation and
// exited already, and if it died instead, the next wait sees it.
func (s *shmReceiver) release(c net.Conn) {
	s.ready--
	s.next = (s.next + 1) % s.slots
	s.buf[0] = credit
	c.Write(s.buf[:1])
}
