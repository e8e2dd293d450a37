//go:build linux

package collective

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Negotiation bytes, exchanged right after the ring handshake on a Unix
// socket.
const (
	shmOffer   = 'S' // carries the region's file descriptor
	shmNoOffer = 'N'
	shmAccept  = 'Y'
	shmRefuse  = 'R'
)

// offerShm creates the outgoing region and passes it to the next rank over
// c. It returns nil (and no error) when shared memory is unavailable on
// either side; the link then streams over the socket.
func offerShm(c *net.UnixConn, slotBytes int, want bool) (*shmSender, error) {
	size := shmHeader + shmSlots*slotBytes
	var mem []byte
	fd := -1
	if want {
		var err error
		if fd, err = unix.MemfdCreate("unigrpo-ring", unix.MFD_CLOEXEC); err == nil {
			if err = unix.Ftruncate(fd, int64(size)); err == nil {
				mem, err = unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			}
			if err != nil {
				unix.Close(fd)
				fd = -1
			}
		}
	}
	if fd < 0 {
		_, err := c.Write([]byte{shmNoOffer})
		return nil, err
	}
	defer unix.Close(fd)
	if _, _, err := c.WriteMsgUnix([]byte{shmOffer}, unix.UnixRights(fd), nil); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	var reply [1]byte
	if _, err := c.Read(reply[:]); err != nil || reply[0] != shmAccept {
		unix.Munmap(mem)
		if err == nil && reply[0] != shmRefuse {
			err = fmt.Errorf("unexpected shared-memory reply %q", reply[0])
		}
		return nil, err
	}
	return newSender(mem, slotBytes), nil
}

// acceptShm receives the previous rank's region, if offered, and maps it.
func acceptShm(c *net.UnixConn, slotBytes int) (*shmReceiver, error) {
	var b [1]byte
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(b[:], oob)
	if err != nil {
		return nil, err
	}
	if b[0] == shmNoOffer {
		return nil, nil
	}
	if b[0] != shmOffer {
		return nil, fmt.Errorf("unexpected shared-memory offer %q", b[0])
	}
	mem, err := mapOffer(oob[:oobn], slotBytes)
	if err != nil {
		_, werr := c.Write([]byte{shmRefuse})
		return nil, werr
	}
	if _, err := c.Write([]byte{shmAccept}); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return newReceiver(mem, slotBytes), nil
}

// mapOffer maps the file descriptor carried by a control message.
func mapOffer(oob []byte, slotBytes int) ([]byte, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("no file descriptor in the shared-memory offer")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New("no file descriptor in the shared-memory offer")
	}
	fd := fds[0]
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if slots := (st.Size - shmHeader) / int64(slotBytes); slots < 1 || st.Size != shmHeader+slots*int64(slotBytes) || st.Size > 1<<30 {
		return nil, fmt.Errorf("shared-memory region of %d bytes does not fit %d-byte slots", st.Size, slotBytes)
	}
	return unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// unmap releases a region.
func unmap(mem []byte) {
	if mem != nil {
		unix.Munmap(mem)
	}
}
