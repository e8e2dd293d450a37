package collective

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Transport selects how ring neighbours connect.
type Transport string

// Transports.
const (
	// TransportAuto connects ranks on the same host with shared memory
	// (signalled over a Unix socket) and ranks on different hosts with TCP.
	TransportAuto Transport = "auto"
	// TransportUnix streams over Unix sockets between ranks on the same
	// host, without shared memory, and TCP between hosts.
	TransportUnix Transport = "unix"
	// TransportTCP always uses TCP.
	TransportTCP Transport = "tcp"
)

// endpoint is what a rank publishes in the store so that its ring
// predecessor can reach it.
type endpoint struct {
	// TCP is host:port; the host may be empty for rank 0, whose peers use
	// the address they reached the store at.
	TCP string `json:"tcp"`
	// Unix is an abstract Unix socket name, or empty.
	Unix string `json:"unix,omitempty"`
	// Host identifies the machine and network namespace; ranks with equal
	// non-empty Host can use the Unix socket.
	Host string `json:"host,omitempty"`
}

// hostIdentity returns a string equal for processes that share a kernel and
// a network namespace (the scope of abstract Unix sockets), or "" when it
// cannot be determined.
func hostIdentity() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return ""
	}
	name, _ := os.Hostname()
	return name + "/" + strings.TrimSpace(string(boot)) + "/" + ns
}

// listeners accepts ring connections over TCP and, when possible, a Unix
// socket.
type listeners struct {
	tcp  net.Listener
	unix net.Listener
}

// listen opens the ring listeners on the given TCP host ("" for all
// interfaces).
func listen(host string, transport Transport) (*listeners, error) {
	tcp, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for ring peers: %w", err)
	}
	l := &listeners{tcp: tcp}
	if transport != TransportTCP && hostIdentity() != "" {
		var b [12]byte
		rand.Read(b[:])
		if u, err := net.Listen("unix", "@unigrpo-ring-"+hex.EncodeToString(b[:])); err == nil {
			l.unix = u
		}
	}
	return l, nil
}

// endpoint describes the listeners, advertising advertiseHost for TCP.
func (l *listeners) endpoint(advertiseHost string) endpoint {
	_, port, _ := net.SplitHostPort(l.tcp.Addr().String())
	e := endpoint{TCP: net.JoinHostPort(advertiseHost, port)}
	if l.unix != nil {
		e.Unix = l.unix.Addr().String()
		e.Host = hostIdentity()
	}
	return e
}

// accept delivers accepted connections on a channel until ctx ends.
func (l *listeners) accept(ctx context.Context) <-chan net.Conn {
	out := make(chan net.Conn)
	loop := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case out <- c:
			case <-ctx.Done():
				c.Close()
				return
			}
		}
	}
	go loop(l.tcp)
	if l.unix != nil {
		go loop(l.unix)
	}
	return out
}

func (l *listeners) close() {
	l.tcp.Close()
	if l.unix != nil {
		l.unix.Close()
	}
}

// dialPeer connects to a peer's endpoint, preferring its Unix socket when
// both sides share a host. It retries until ctx ends.
func dialPeer(ctx context.Context, e endpoint, transport Transport) (net.Conn, error) {
	useUnix := transport != TransportTCP && e.Unix != "" && e.Host != "" && e.Host == hostIdentity()
	var d net.Dialer
	backoff := 10 * time.Millisecond
	for {
		var conn net.Conn
		var err error
		if useUnix {
			conn, err = d.DialContext(ctx, "unix", e.Unix)
			if err != nil {
				useUnix = false // e.g. a container boundary: fall back to TCP
				continue
			}
		} else {
			conn, err = d.DialContext(ctx, "tcp", e.TCP)
		}
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// tuneConn sets the socket options the ring wants.
func tuneConn(c net.Conn, sockBuf int) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		if sockBuf > 0 {
			tc.SetReadBuffer(sockBuf)
			tc.SetWriteBuffer(sockBuf)
		}
	}
}

// isLoopback reports whether host names the loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errPeerClosed marks a neighbour that closed its connection.
var errPeerClosed = errors.New("closed the connection")
