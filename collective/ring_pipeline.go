package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// opcode identifies a collective in the per-operation header.
type opcode uint8

const (
	opAllReduce opcode = iota + 1
	opBroadcast
	opAllGather
	opBarrier
	opReduceScatter
)

func (o opcode) String() string {
	switch o {
	case opAllReduce:
		return "AllReduce"
	case opBroadcast:
		return "Broadcast"
	case opAllGather:
		return "AllGather"
	case opBarrier:
		return "Barrier"
	case opReduceScatter:
		return "ReduceScatter"
	}
	return fmt.Sprintf("opcode(%d)", uint8(o))
}

// header precedes every operation's data on each ring link, so that ranks
// that issue different collectives fail with a clear error instead of
// exchanging garbage.
type header struct {
	seq    uint64
	code   opcode
	redop  Op
	wire   Wire
	root   uint32
	length uint64
}

const (
	headerSize  = 32
	headerMagic = 0x55524731 // "URG1"
)

func (h header) encode() []byte {
	b := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(b[0:], headerMagic)
	b[4] = byte(h.code)
	b[5] = byte(h.redop)
	b[6] = byte(h.wire)
	binary.LittleEndian.PutUint32(b[8:], h.root)
	binary.LittleEndian.PutUint64(b[16:], h.length)
	binary.LittleEndian.PutUint64(b[24:], h.seq)
	return b
}

func decodeHeader(b []byte) (header, error) {
	if binary.LittleEndian.Uint32(b) != headerMagic {
		return header{}, errors.New("the stream is out of step (bad operation header)")
	}
	return header{
		code:   opcode(b[4]),
		redop:  Op(b[5]),
		wire:   Wire(b[6]),
		root:   binary.LittleEndian.Uint32(b[8:]),
		length: binary.LittleEndian.Uint64(b[16:]),
		seq:    binary.LittleEndian.Uint64(b[24:]),
	}, nil
}

func (h header) describe() string {
	s := fmt.Sprintf("%s #%d of %d elements", h.code, h.seq, h.length)
	switch h.code {
	case opAllReduce, opReduceScatter:
		s += " (" + h.redop.String() + ", " + h.wire.String() + " on the wire)"
	case opBroadcast:
		s += fmt.Sprintf(" (root %d)", h.root)
	}
	return s
}

// recvMode says what to do with received data.
type recvMode uint8

const (
	recvCopy   recvMode = iota // store into the buffer
	recvReduce                 // combine into the buffer with the op
	recvFinal                  // combine, then divide by the divisor (Avg)
)

// xfer is one contiguous span of the buffer sent or received in a step.
type xfer struct {
	off, n int
	// wait, for sends: every segment waits until the reader has completed
	// one more received segment (the one holding this segment's data).
	wait bool
	// notify, for sends: the writer reports every segment it has sent.
	notify bool
	// reuse, for receives: every segment waits until the writer has
	// reported one more sent segment (an earlier send of the same memory).
	// The peers' data dependencies already imply this order; the explicit
	// hand-off makes it visible to Go's memory model.
	reuse bool
	mode  recvMode
}

// segments returns how many segments a span of n elements is cut into.
func segments(n, seg int) int { return (n + seg - 1) / seg }

// pipeline sends the header and the sends spans of buf to the next rank
// while receiving the header and the recvs spans from the previous rank.
// A writer goroutine does the sending so that it overlaps with receiving
// and reducing; the reader hands it one token per received segment.
func (r *Ring) pipeline(buf []float32, h header, sends, recvs []xfer, op Op, divisor float32) error {
	// Headers are exchanged before any data, so that ranks running
	// different operations report the mismatch. This costs no round trip:
	// the previous rank sent its header when it entered the operation.
	if err := r.exchangeHeaders(h); err != nil {
		return err
	}
	seg := r.segElems
	received, notified := 0, 0
	for _, x := range recvs {
		received += segments(x.n, seg)
	}
	for _, x := range sends {
		if x.notify {
			notified += segments(x.n, seg)
		}
	}
	ready := make(chan struct{}, received)
	sent := make(chan struct{}, notified)
	abort := make(chan struct{})
	// The first failure is the cause; the other side then fails because it
	// was interrupted, which is not worth reporting.
	var first error
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(sent) // wakes a reader waiting for a send that failed
		if err := r.writeAll(buf, h.wire, sends, ready, sent, abort); err != nil {
			once.Do(func() { first = err })
			r.prev.SetDeadline(time.Unix(1, 0)) // unblock the reader
		}
	}()
	if err := r.readAll(buf, h.wire, recvs, ready, sent, op, divisor); err != nil {
		once.Do(func() { first = err })
		close(abort)
		r.next.SetDeadline(time.Unix(1, 0)) // unblock the writer
	}
	<-done
	return first
}

func (r *Ring) writeAll(buf []float32, wire Wire, sends []xfer, ready <-chan struct{}, sent chan<- struct{}, abort <-chan struct{}) error {
	seg := r.segElems
	for _, x := range sends {
		for a := x.off; a < x.off+x.n; a += seg {
			b := min(a+seg, x.off+x.n)
			if x.wait {
				select {
				case <-ready:
				case <-abort:
					return errAborted
				}
			}
			data := buf[a:b]
			if wire == WireBFloat16 {
				packBF16(r.packed[:packedLen(b-a)], data)
				data = r.packed[:packedLen(b-a)]
			}
			var err error
			if r.shmOut != nil {
				err = r.shmOut.send(r.next, data)
			} else {
				_, err = r.next.Write(asBytes(data))
			}
			if err != nil {
				return r.sendError(err)
			}
			if x.notify {
				sent <- struct{}{}
			}
		}
	}
	return nil
}

// errAborted stops the writer after the reader failed.
var errAborted = errors.New("aborted")

// exchangeHeaders sends h to the next rank and checks that the previous
// rank announced the same operation.
func (r *Ring) exchangeHeaders(h header) error {
	if _, err := r.next.Write(h.encode()); err != nil {
		return r.sendError(err)
	}
	var hb [headerSize]byte
	if _, err := io.ReadFull(r.prev, hb[:]); err != nil {
		return r.recvError(err)
	}
	got, err := decodeHeader(hb[:])
	if err != nil {
		return r.recvError(err)
	}
	if got != h {
		return fmt.Errorf("rank %d is running %s while this rank runs %s: every rank must issue the same collectives, in the same order, with the same lengths",
			r.prevRank(), got.describe(), h.describe())
	}
	return nil
}

func (r *Ring) readAll(buf []float32, wire Wire, recvs []xfer, ready chan<- struct{}, sent <-chan struct{}, op Op, divisor float32) error {
	seg := r.segElems
	for _, x := range recvs {
		for a := x.off; a < x.off+x.n; a += seg {
			b := min(a+seg, x.off+x.n)
			dst := buf[a:b]
			if x.reuse {
				if _, ok := <-sent; !ok {
					return errAborted
				}
			}
			var err error
			switch {
			case wire == WireBFloat16:
				err = r.recvPacked(dst, x.mode, op, divisor)
			case r.shmIn != nil:
				err = r.recvShm(dst, x.mode, op, divisor)
			default:
				err = r.recvStream(dst, x.mode, op, divisor)
			}
			if err != nil {
				return r.recvError(err)
			}
			ready <- struct{}{}
		}
	}
	return nil
}

// recvStream reads one segment from the socket into dst.
func (r *Ring) recvStream(dst []float32, mode recvMode, op Op, divisor float32) error {
	if mode == recvCopy {
		_, err := io.ReadFull(r.prev, asBytes(dst))
		return err
	}
	src := r.scratch[:len(dst)]
	if _, err := io.ReadFull(r.prev, asBytes(src)); err != nil {
		return err
	}
	combine(dst, src, mode, op, divisor)
	return nil
}

// recvPacked receives one segment of bfloat16 values packed two to a word, widens them and
// stores or combines them into dst; a final sum is rounded to bfloat16, as its copies on the
// other ranks are.
func (r *Ring) recvPacked(dst []float32, mode recvMode, op Op, divisor float32) error {
	words := packedLen(len(dst))
	wide := r.wide[:len(dst)]
	if r.shmIn != nil {
		src, err := r.shmIn.wait(r.prev, words)
		if err != nil {
			return err
		}
		unpackBF16(wide, src)
		r.shmIn.release(r.prev)
	} else {
		src := r.scratch[:words]
		if _, err := io.ReadFull(r.prev, asBytes(src)); err != nil {
			return err
		}
		unpackBF16(wide, src)
	}
	if mode == recvCopy {
		copy(dst, wide)
		return nil
	}
	combine(dst, wide, mode, op, divisor)
	if mode == recvFinal {
		roundBF16(dst)
	}
	return nil
}

// recvShm combines one segment straight from shared memory into dst.
func (r *Ring) recvShm(dst []float32, mode recvMode, op Op, divisor float32) error {
	src, err := r.shmIn.wait(r.prev, len(dst))
	if err != nil {
		return err
	}
	if mode == recvCopy {
		copy(dst, src)
	} else {
		combine(dst, src, mode, op, divisor)
	}
	r.shmIn.release(r.prev)
	return nil
}

// combine reduces src into dst, dividing afterwards for the final step of
// an average.
func combine(dst, src []float32, mode recvMode, op Op, divisor float32) {
	if op == Max {
		maxInto(dst, src)
	} else {
		addInto(dst, src)
	}
	if mode == recvFinal && divisor != 1 {
		divide(dst, divisor)
	}
}
