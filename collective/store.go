package collective

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrBadToken is returned when the store refuses this process's job token.
var ErrBadToken = errors.New("the store refused the job token")

// ErrClosed is returned by operations on a closed Store or Communicator.
var ErrClosed = errors.New("closed")

// DefaultStoreTimeout bounds a store call whose context has no deadline.
const DefaultStoreTimeout = 5 * time.Minute

// Store is a client of the job's rendezvous key-value store. Rank 0 hosts
// the store and uses it in memory; the other ranks reach it over TCP, with
// one connection per concurrent call. Keys are strings, values are bytes.
// All methods are safe for concurrent use and honour their context's
// deadline (DefaultStoreTimeout when it has none).
type Store struct {
	addr  string
	token string
	local *table  // set on the hosting rank and for in-memory stores
	srv   *server // set on the hosting rank

	// localAddr and remoteAddr are the two ends of the first connection:
	// how this host and the store's host see each other.
	localAddr, remoteAddr net.Addr

	mu     sync.Mutex
	idle   []net.Conn
	open   map[net.Conn]struct{}
	closed bool
}

// NewMemoryStore returns a store that lives only in this process, as used by
// a world of one rank.
func NewMemoryStore() *Store {
	return &Store{local: newTable()}
}

// HostStore serves a new store on addr (host:port; port 0 picks a free one)
// to clients presenting token, and returns the hosting rank's handle.
func HostStore(addr, token string) (*Store, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: host the store on %s: %w (is MASTER_PORT already in use by another job?)", addr, err)
	}
	tab := newTable()
	return &Store{addr: ln.Addr().String(), token: token, local: tab, srv: serve(ln, token, tab)}, nil
}

// DialStore connects to the store at addr, retrying until ctx ends so that
// ranks may start before rank 0. It fails at once with ErrBadToken when the
// store refuses token.
func DialStore(ctx context.Context, addr, token string) (*Store, error) {
	ctx, cancel := withDefaultDeadline(ctx, DefaultStoreTimeout)
	defer cancel()
	s := &Store{addr: addr, token: token, open: make(map[net.Conn]struct{})}
	start := time.Now()
	backoff := 10 * time.Millisecond
	for {
		conn, err := dialStore(ctx, addr, token)
		if err == nil {
			s.localAddr, s.remoteAddr = conn.LocalAddr(), conn.RemoteAddr()
			s.idle = []net.Conn{conn}
			s.open[conn] = struct{}{}
			return s, nil
		}
		if errors.Is(err, ErrBadToken) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rendezvous: cannot reach the store at %s (hosted by rank 0) within %s: %v; check that rank 0 is running and that every rank was started with the same MASTER_ADDR/MASTER_PORT",
				addr, time.Since(start).Round(time.Millisecond), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// dialStore opens one authenticated connection.
func dialStore(ctx context.Context, addr, token string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	err = writeMessage(conn, message{kind: kindHello, fields: [][]byte{[]byte(storeProtocol), []byte(token)}})
	var resp message
	if err == nil {
		resp, err = readMessage(conn, maxFrame)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("handshake with the store at %s: %w", addr, err)
	}
	if resp.kind == kindErr && len(resp.fields) == 1 && string(resp.fields[0]) == msgBadToken {
		conn.Close()
		return nil, fmt.Errorf("rendezvous: %w at %s: every rank must be started with the same job token (UNIGRPO_JOB_TOKEN; launch sets it, on several nodes set it yourself)", ErrBadToken, addr)
	}
	if resp.kind != kindOK {
		conn.Close()
		return nil, fmt.Errorf("handshake with the store at %s: unexpected answer %q", addr, resp.kind)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// RefusedTokens returns how many clients the hosted store refused for
// presenting the wrong job token (0 on other ranks).
func (s *Store) RefusedTokens() int64 {
	if s.srv == nil {
		return 0
	}
	return s.srv.badTokens.Load()
}

// Addr returns the store's address, or "" for an in-memory store.
func (s *Store) Addr() string { return s.addr }

// Set stores value under key, replacing any earlier value.
func (s *Store) Set(ctx context.Context, key string, value []byte) error {
	if s.local != nil {
		if err := s.checkOpen(); err != nil {
			return err
		}
		s.local.set(key, value)
		return nil
	}
	_, err := s.roundTrip(ctx, message{kind: kindSet, fields: [][]byte{[]byte(key), value}})
	if err != nil {
		return fmt.Errorf("store set %q: %w", key, err)
	}
	return nil
}

// Get waits until key is set and returns its value.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := withDefaultDeadline(ctx, DefaultStoreTimeout)
	defer cancel()
	if s.local != nil {
		if err := s.checkOpen(); err != nil {
			return nil, err
		}
		v, err := s.local.get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("store get %q: %w", key, err)
		}
		return v, nil
	}
	resp, err := s.roundTrip(ctx, message{kind: kindGet, fields: [][]byte{putInt64(remainingMillis(ctx)), []byte(key)}})
	if err != nil {
		return nil, fmt.Errorf("store get %q: %w", key, err)
	}
	if len(resp.fields) != 1 {
		return nil, fmt.Errorf("store get %q: malformed answer", key)
	}
	return resp.fields[0], nil
}

// Wait blocks until every key is set. At the deadline it returns an error
// wrapping a *MissingKeysError.
func (s *Store) Wait(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := withDefaultDeadline(ctx, DefaultStoreTimeout)
	defer cancel()
	if s.local != nil {
		if err := s.checkOpen(); err != nil {
			return err
		}
		if err := s.local.wait(ctx, keys); err != nil {
			return fmt.Errorf("store wait: %w", err)
		}
		return nil
	}
	fields := [][]byte{putInt64(remainingMillis(ctx))}
	for _, k := range keys {
		fields = append(fields, []byte(k))
	}
	if _, err := s.roundTrip(ctx, message{kind: kindWait, fields: fields}); err != nil {
		return fmt.Errorf("store wait: %w", err)
	}
	return nil
}

// Add atomically adds delta to the decimal integer at key (0 when unset)
// and returns the new value.
func (s *Store) Add(ctx context.Context, key string, delta int64) (int64, error) {
	if s.local != nil {
		if err := s.checkOpen(); err != nil {
			return 0, err
		}
		v, err := s.local.add(key, delta)
		if err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		return v, nil
	}
	resp, err := s.roundTrip(ctx, message{kind: kindAdd, fields: [][]byte{[]byte(key), putInt64(delta)}})
	if err != nil {
		return 0, fmt.Errorf("store add %q: %w", key, err)
	}
	if len(resp.fields) != 1 {
		return 0, fmt.Errorf("store add %q: malformed answer", key)
	}
	return getInt64(resp.fields[0])
}

// Close disconnects; on the hosting rank it also stops serving the others,
// so call it only after the last rank is done with the store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	for c := range s.open {
		c.Close() // also aborts calls in flight
	}
	s.open, s.idle = nil, nil
	if s.srv != nil {
		err = s.srv.close()
	} else if s.local != nil {
		s.local.close()
	}
	return err
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store: %w", ErrClosed)
	}
	return nil
}

// roundTrip sends one request and reads its answer on an idle connection,
// dialling a new one when all are busy. A broken connection is dropped.
func (s *Store) roundTrip(ctx context.Context, req message) (message, error) {
	ctx, cancel := withDefaultDeadline(ctx, DefaultStoreTimeout)
	defer cancel()
	conn, err := s.acquire(ctx)
	if err != nil {
		return message{}, err
	}
	dl, _ := ctx.Deadline()
	// The server answers a wait at the deadline itself; leave it time to.
	conn.SetDeadline(dl.Add(2 * time.Second))
	// At the deadline the server answers (listing missing keys); only a
	// cancellation must interrupt the call.
	cancelled, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	unwatch := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	stop := interruptOnCancel(cancelled, conn)
	err = writeMessage(conn, req)
	var resp message
	if err == nil {
		resp, err = readMessage(conn, maxFrame)
	}
	unwatch()
	stop()
	if err != nil {
		s.release(conn, false)
		if ctx.Err() != nil {
			return message{}, fmt.Errorf("store at %s: %w", s.addr, ctx.Err())
		}
		return message{}, fmt.Errorf("store at %s: %w (did rank 0 exit?)", s.addr, err)
	}
	s.release(conn, resp.kind != kindErr)
	switch resp.kind {
	case kindOK:
		return resp, nil
	case kindMissing:
		keys := make([]string, len(resp.fields))
		for i, f := range resp.fields {
			keys[i] = string(f)
		}
		return message{}, &MissingKeysError{Keys: keys, Err: context.DeadlineExceeded}
	case kindErr:
		if len(resp.fields) == 1 {
			return message{}, errors.New(string(resp.fields[0]))
		}
	}
	return message{}, fmt.Errorf("store at %s: malformed answer", s.addr)
}

// acquire returns an idle connection or dials a new one.
func (s *Store) acquire(ctx context.Context) (net.Conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("store: %w", ErrClosed)
	}
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	c, err := dialStore(ctx, s.addr, s.token)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, fmt.Errorf("store: %w", ErrClosed)
	}
	s.open[c] = struct{}{}
	return c, nil
}

// release returns a connection to the idle list, or closes it.
func (s *Store) release(c net.Conn, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if healthy && !s.closed {
		c.SetDeadline(time.Time{})
		s.idle = append(s.idle, c)
		return
	}
	delete(s.open, c)
	c.Close()
}

// withDefaultDeadline gives ctx a deadline d from now unless it has one.
func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// remainingMillis returns the time left before ctx's deadline, at least 0.
func remainingMillis(ctx context.Context) int64 {
	dl, _ := ctx.Deadline()
	return max(time.Until(dl).Milliseconds(), 0)
}
