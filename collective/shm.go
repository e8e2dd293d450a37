package collective

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"unsafe"
)

// Shared-memory links between ranks on one host.
//
// The sending rank owns a region shared with the next rank through a memory
// file passed over their Unix socket: a header page with two counters, then
// shmSlots slots of one segment each. To send a segment the sender copies
// it into the next free slot and advances head; the receiver combines the
// slot straight into its buffer (no copy through the kernel) and advances
// tail. Neither side makes a system call while the other keeps up.
//
// A side that has to wait announces it in a flag, checks the counter
// again, and sleeps in a one-byte read on the socket; the other side, after
// moving its counter, claims the flag (compare-and-swap) and writes that
// byte. A waiter that finds the counter moved after all withdraws its flag,
// or, if the byte was already claimed, reads it; so every byte written is
// read exactly once and the socket stays in step with the operation
// headers it also carries. Its deadlines and end-of-file give shared-memory
// links the same timeout and dead-peer behaviour as plain sockets.

const (
	shmSlots  = 8
	shmHeader = 4096 // header page: counters and flags on separate cache lines
	doorbell  = 0xDB // receiver wake-up
	credit    = 0xCC // sender wake-up
)

// shmControl points into a region's header page.
type shmControl struct {
	head      *atomic.Uint64 // segments published by the sender
	tail      *atomic.Uint64 // segments consumed by the receiver
	rxWaiting *atomic.Uint32 // the receiver sleeps until a doorbell
	txWaiting *atomic.Uint32 // the sender sleeps until a credit
}

func newControl(mem []byte) shmControl {
	at := func(off int) unsafe.Pointer { return unsafe.Pointer(&mem[off]) }
	return shmControl{
		head:      (*atomic.Uint64)(at(0)),
		tail:      (*atomic.Uint64)(at(64)),
		rxWaiting: (*atomic.Uint32)(at(128)),
		txWaiting: (*atomic.Uint32)(at(192)),
	}
}

// sleep blocks until the other side claims flag and writes want on c, or
// returns at once if ready() turns true before the wait is announced.
func sleep(c net.Conn, flag *atomic.Uint32, ready func() bool, want byte, buf []byte) error {
	flag.Store(1)
	if ready() && flag.CompareAndSwap(1, 0) {
		return nil // withdrawn before anyone claimed it
	}
	if _, err := c.Read(buf[:1]); err != nil {
		return err
	}
	if buf[0] != want {
		return fmt.Errorf("shared-memory link out of step (byte %#x, want %#x)", buf[0], want)
	}
	return nil
}

// shmRegion is one side's view of a region: its memory, header and slots.
type shmRegion struct {
	mem       []byte
	ctl       shmControl
	slots     int
	slotBytes int
	buf       [1]byte // the byte written or read on the socket
}

func newRegion(mem []byte, slotBytes int) shmRegion {
	return shmRegion{mem: mem, ctl: newControl(mem), slots: (len(mem) - shmHeader) / slotBytes, slotBytes: slotBytes}
}

// offset returns where the slot of the i-th segment starts in mem.
func (r *shmRegion) offset(i uint64) int {
	return shmHeader + int(i%uint64(r.slots))*r.slotBytes
}

// wake claims the other side's waiting flag, if it is set, and writes b on c
// to wake it.
func (r *shmRegion) wake(c net.Conn, flag *atomic.Uint32, b byte) error {
	if !flag.CompareAndSwap(1, 0) {
		return nil
	}
	r.buf[0] = b
	_, err := c.Write(r.buf[:1])
	return err
}

// shmSender fills the slots of the outgoing region.
type shmSender struct {
	shmRegion
	sent uint64 // == head
}

func newSender(mem []byte, slotBytes int) *shmSender {
	return &shmSender{shmRegion: newRegion(mem, slotBytes)}
}

// send copies data into a free slot, waiting for one if necessary, and
// publishes it, waking the receiver if it sleeps.
func (s *shmSender) send(c net.Conn, data []float32) error {
	free := func() bool { return s.sent-s.ctl.tail.Load() < uint64(s.slots) }
	for !free() {
		if err := sleep(c, s.ctl.txWaiting, free, credit, s.buf[:]); err != nil {
			return err
		}
	}
	off := s.offset(s.sent)
	copy(s.mem[off:off+4*len(data)], asBytes(data))
	s.sent++
	s.ctl.head.Store(s.sent)
	return s.wake(c, s.ctl.rxWaiting, doorbell)
}

// shmReceiver consumes the slots of the incoming region.
type shmReceiver struct {
	shmRegion
	consumed uint64 // == tail
}

func newReceiver(mem []byte, slotBytes int) *shmReceiver {
	return &shmReceiver{shmRegion: newRegion(mem, slotBytes)}
}

// wait returns the next published slot as n elements, sleeping until the
// sender publishes it if necessary.
func (s *shmReceiver) wait(c net.Conn, n int) ([]float32, error) {
	if 4*n > s.slotBytes {
		return nil, fmt.Errorf("segment of %d elements exceeds the %d-byte slot", n, s.slotBytes)
	}
	published := func() bool { return s.ctl.head.Load() > s.consumed }
	for !published() {
		if err := sleep(c, s.ctl.rxWaiting, published, doorbell, s.buf[:]); err != nil {
			return nil, err
		}
	}
	if s.ctl.head.Load()-s.consumed > uint64(s.slots) {
		return nil, errors.New("shared-memory link out of step (sender overran the slots)")
	}
	off := s.offset(s.consumed)
	return unsafe.Slice((*float32)(unsafe.Pointer(&s.mem[off])), n), nil
}

// release hands the slot returned by wait back to the sender, waking it if
// it sleeps. A failed wake-up is not an error: the sender may have finished
// the operation and exited already; if it died instead, the next wait
// sees it.
func (s *shmReceiver) release(c net.Conn) {
	s.consumed++
	s.ctl.tail.Store(s.consumed)
	s.wake(c, s.ctl.txWaiting, credit)
}
