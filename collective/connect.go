package collective

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults for Options.
const (
	DefaultRendezvousTimeout = 5 * time.Minute
	DefaultSegmentBytes      = 256 << 10
)

// Options configures Connect.
type Options struct {
	// Rank of this process in [0, Size).
	Rank int
	// Size is the number of processes.
	Size int
	// MasterAddr and MasterPort locate the store that rank 0 hosts.
	MasterAddr string
	MasterPort int
	// Token is the job's shared secret; the store and the ring refuse peers
	// that do not present it.
	Token string
	// Timeout bounds the whole rendezvous (DefaultRendezvousTimeout if 0).
	Timeout time.Duration
	// OpTimeout bounds each operation whose context has no deadline
	// (DefaultOpTimeout if 0).
	OpTimeout time.Duration
	// SegmentBytes is the pipelining granularity (DefaultSegmentBytes if 0).
	SegmentBytes int
	// SocketBuffer, if positive, sets the TCP send and receive buffer sizes;
	// 0 keeps the kernel's autotuning, which measured as fast on loopback.
	SocketBuffer int
	// Transport chooses how ranks on one host connect: shared memory
	// (TransportAuto, the default), Unix sockets or TCP.
	Transport Transport
}

func (o *Options) validate() error {
	if o.Size < 1 {
		return fmt.Errorf("world size %d: must be at least 1", o.Size)
	}
	if o.Rank < 0 || o.Rank >= o.Size {
		return fmt.Errorf("rank %d is outside the world of %d ranks (0..%d)", o.Rank, o.Size, o.Size-1)
	}
	if o.Size == 1 {
		return nil
	}
	if o.MasterAddr == "" {
		return errors.New("no master address: set MASTER_ADDR (launch does this for you)")
	}
	if o.MasterPort < 1 || o.MasterPort > 65535 {
		return fmt.Errorf("master port %d: must be in 1..65535", o.MasterPort)
	}
	if o.SegmentBytes < 0 || o.Timeout < 0 || o.OpTimeout < 0 || o.SocketBuffer < 0 {
		return errors.New("negative segment size, timeout or socket buffer")
	}
	switch o.Transport {
	case "", TransportAuto, TransportUnix, TransportTCP:
	default:
		return fmt.Errorf("unknown transport %q (want %q, %q or %q)", o.Transport, TransportAuto, TransportUnix, TransportTCP)
	}
	return nil
}

// Connect joins this process to the job: rank 0 hosts the store on
// MasterPort, every rank publishes where it listens, waits for all the
// others, and connects to its ring neighbours. With Size 1 it opens no
// sockets and returns a Ring whose operations cost nothing and an in-memory
// Store.
//
// Close the Ring when done; close the Store after the last use by any rank
// (on rank 0 closing it stops serving the others).
func Connect(ctx context.Context, o Options) (*Ring, *Store, error) {
	if err := o.validate(); err != nil {
		return nil, nil, fmt.Errorf("collective: %w", err)
	}
	ring := &Ring{rank: o.Rank, size: o.Size, closed: make(chan struct{})}
	if o.Size == 1 {
		return ring, NewMemoryStore(), nil
	}
	if !littleEndian() {
		return nil, nil, errors.New("collective: the CPU ring needs a little-endian machine")
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultRendezvousTimeout
	}
	ring.opTimeout = o.OpTimeout
	if ring.opTimeout == 0 {
		ring.opTimeout = DefaultOpTimeout
	}
	segBytes := o.SegmentBytes
	if segBytes == 0 {
		segBytes = DefaultSegmentBytes
	}
	ring.segElems = max(segBytes/4, 1)
	ring.scratch = make([]float32, ring.segElems)
	ring.wide, ring.packed = make([]float32, ring.segElems), make([]float32, packedLen(ring.segElems))

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	loopback := isLoopback(o.MasterAddr)
	storeAddr := net.JoinHostPort(o.MasterAddr, strconv.Itoa(o.MasterPort))

	var store *Store
	var err error
	if o.Rank == 0 {
		bind := ""
		if loopback {
			bind = o.MasterAddr
		}
		store, err = HostStore(net.JoinHostPort(bind, strconv.Itoa(o.MasterPort)), o.Token)
	} else {
		store, err = DialStore(ctx, storeAddr, o.Token)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := ring.join(ctx, store, o, loopback, timeout); err != nil {
		ring.Close()
		store.Close()
		return nil, nil, err
	}
	return ring, store, nil
}

// join publishes this rank's endpoint, waits for everyone's and connects
// the ring.
func (r *Ring) join(ctx context.Context, store *Store, o Options, loopback bool, timeout time.Duration) error {
	// Peers dial the address this rank reaches the store from, which is
	// routable from rank 0's network; rank 0 is reached at the store's
	// address.
	listenHost, advertise, storeHost := "", "", ""
	if loopback {
		listenHost, advertise = "127.0.0.1", "127.0.0.1"
	}
	if store.localAddr != nil {
		local, _, _ := net.SplitHostPort(store.localAddr.String())
		remote, _, _ := net.SplitHostPort(store.remoteAddr.String())
		storeHost = remote
		if !loopback {
			advertise = local
		}
	}
	ls, err := listen(listenHost, o.Transport)
	if err != nil {
		return fmt.Errorf("rendezvous: %w", err)
	}
	defer ls.close()
	next, err := r.exchange(ctx, store, ls.endpoint(advertise), storeHost, timeout)
	if err != nil {
		return err
	}
	return r.connect(ctx, ls, next, o)
}

// exchange publishes this rank's endpoint me, waits until every rank has published its own and
// returns the next rank's; a TCP address without a host there gets storeHost.
func (r *Ring) exchange(ctx context.Context, store *Store, me endpoint, storeHost string, timeout time.Duration) (endpoint, error) {
	js, _ := json.Marshal(me)
	if err := store.Set(ctx, endpointKey(r.rank), js); err != nil {
		return endpoint{}, fmt.Errorf("rendezvous: publish rank %d's address: %w", r.rank, err)
	}
	keys := make([]string, r.size)
	for i := range keys {
		keys[i] = endpointKey(i)
	}
	if err := store.Wait(ctx, keys...); err != nil {
		err = joinError(err, r.size, timeout)
		if n := store.RefusedTokens(); n > 0 {
			err = fmt.Errorf("%w (the store refused %d connection(s) with a wrong job token: are all ranks given the same UNIGRPO_JOB_TOKEN?)", err, n)
		}
		return endpoint{}, err
	}
	raw, err := store.Get(ctx, endpointKey(r.nextRank()))
	if err != nil {
		return endpoint{}, fmt.Errorf("rendezvous: %w", err)
	}
	var next endpoint
	if err := json.Unmarshal(raw, &next); err != nil {
		return endpoint{}, fmt.Errorf("rendezvous: rank %d published a malformed address %q: %w", r.nextRank(), raw, err)
	}
	if h, p, err := net.SplitHostPort(next.TCP); err == nil && h == "" {
		next.TCP = net.JoinHostPort(storeHost, p)
	}
	return next, nil
}

// connect connects both ring neighbours at once: it accepts the previous rank on ls while it
// dials the next at next, and returns the dial's error first.
func (r *Ring) connect(ctx context.Context, ls *listeners, next endpoint, o Options) error {
	accepted := make(chan error, 1)
	go func() { accepted <- r.linkPrev(ctx, ls, o.Token) }()
	err := r.linkNext(ctx, next, o)
	aerr := <-accepted
	if err != nil {
		return err
	}
	if aerr != nil {
		return aerr
	}
	tuneConn(r.prev, o.SocketBuffer)
	return nil
}

// linkPrev accepts the previous rank's connection as r.prev and, over a Unix socket, takes the
// shared memory it offers.
func (r *Ring) linkPrev(ctx context.Context, ls *listeners, token string) error {
	c, err := acceptPrev(ctx, ls, token, r.prevRank(), r.size, r.segElems)
	if err == nil {
		r.prev = c
		if uc, ok := c.(*net.UnixConn); ok {
			setDeadline(ctx, c)
			r.shmIn, err = acceptShm(uc, 4*r.segElems)
			c.SetDeadline(time.Time{})
			if err != nil {
				err = fmt.Errorf("rendezvous: shared memory with rank %d: %w", r.prevRank(), err)
			}
		}
	}
	return err
}

// linkNext dials the next rank at e as r.next and, over a Unix socket, offers it shared memory.
func (r *Ring) linkNext(ctx context.Context, e endpoint, o Options) error {
	c, err := dialNext(ctx, e, o, r.rank, r.segElems)
	if err == nil {
		tuneConn(c, o.SocketBuffer)
		r.next = c
		if uc, ok := c.(*net.UnixConn); ok {
			setDeadline(ctx, c)
			r.shmOut, err = offerShm(uc, 4*r.segElems, o.Transport != TransportUnix)
			c.SetDeadline(time.Time{})
			if err != nil {
				err = fmt.Errorf("rendezvous: shared memory with rank %d: %w", r.nextRank(), err)
			}
		}
	}
	return err
}

// setDeadline applies ctx's deadline, if any, to c.
func setDeadline(ctx context.Context, c net.Conn) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
}

func endpointKey(rank int) string { return "ring/endpoint/" + strconv.Itoa(rank) }

// joinError turns a failed wait for the endpoints into a message naming the
// ranks that never showed up.
func joinError(err error, size int, timeout time.Duration) error {
	var mk *MissingKeysError
	if !errors.As(err, &mk) {
		return fmt.Errorf("rendezvous: %w", err)
	}
	var ranks []string
	for _, k := range mk.Keys {
		ranks = append(ranks, strings.TrimPrefix(k, "ring/endpoint/"))
	}
	who := "rank " + ranks[0]
	if len(ranks) > 1 {
		who = "ranks " + strings.Join(ranks, ", ")
	}
	return fmt.Errorf("rendezvous: %s of %d did not join within %s; check that every rank was started with the same MASTER_ADDR/MASTER_PORT and WORLD_SIZE: %w",
		who, size, timeout.Round(time.Millisecond), mk.Err)
}

const ringProtocol = "unigrpo-ring/1"

// dialNext connects to the next rank and introduces this rank.
func dialNext(ctx context.Context, e endpoint, o Options, rank, segElems int) (net.Conn, error) {
	next := (rank + 1) % o.Size
	c, err := dialPeer(ctx, e, o.Transport)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: connect to rank %d at %s: %w", next, e.TCP, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	err = writeMessage(c, message{kind: kindHello, fields: [][]byte{
		[]byte(ringProtocol), []byte(o.Token), putInt64(int64(rank)), putInt64(int64(o.Size)), putInt64(int64(segElems)),
	}})
	var resp message
	if err == nil {
		resp, err = readMessage(c, maxHelloFrame)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("rendezvous: handshake with rank %d: %w", next, err)
	}
	if resp.kind != kindOK {
		c.Close()
		why := "unexpected answer"
		if resp.kind == kindErr && len(resp.fields) == 1 {
			why = string(resp.fields[0])
		}
		if why == msgBadToken {
			return nil, fmt.Errorf("rendezvous: rank %d: %w", next, ErrBadToken)
		}
		return nil, fmt.Errorf("rendezvous: rank %d refused the ring connection: %s", next, why)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// acceptPrev waits for the previous rank's connection, dropping any other
// caller (stray or with the wrong token).
func acceptPrev(ctx context.Context, ls *listeners, token string, prev, size, segElems int) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := ls.accept(ctx)
	want := tokenDigest(token)
	// Handshakes run concurrently so that a silent stray connection cannot
	// hold up the real peer. The first verified connection wins.
	verified := make(chan net.Conn)
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rendezvous: rank %d did not connect: %w", prev, ctx.Err())
		case c := <-verified:
			return c, nil
		case c := <-conns:
			go func() {
				if verifyPrev(ctx, c, want, prev, size, segElems) != nil {
					c.Close()
					return
				}
				select {
				case verified <- c:
				case <-ctx.Done():
					c.Close()
				}
			}()
		}
	}
}

// verifyPrev checks a ring hello and answers it.
func verifyPrev(ctx context.Context, c net.Conn, token [32]byte, prev, size, segElems int) error {
	dl := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.SetDeadline(dl)
	m, err := readMessage(c, maxHelloFrame)
	if err != nil {
		return err
	}
	refuse := func(why string) error {
		writeMessage(c, message{kind: kindErr, fields: [][]byte{[]byte(why)}})
		return errors.New(why)
	}
	if m.kind != kindHello || len(m.fields) != 5 || string(m.fields[0]) != ringProtocol {
		return refuse("not a " + ringProtocol + " peer")
	}
	if !tokenMatches(token, m.fields[1]) {
		return refuse(msgBadToken)
	}
	from, err1 := getInt64(m.fields[2])
	n, err2 := getInt64(m.fields[3])
	if err1 != nil || err2 != nil || from != int64(prev) || n != int64(size) {
		return refuse(fmt.Sprintf("expected rank %d of a world of %d", prev, size))
	}
	if seg, err := getInt64(m.fields[4]); err != nil || seg != int64(segElems) {
		return refuse(fmt.Sprintf("segment sizes differ (this rank uses %d bytes): give every rank the same SegmentBytes", 4*segElems))
	}
	if err := writeMessage(c, message{kind: kindOK}); err != nil {
		return err
	}
	c.SetDeadline(time.Time{})
	return nil
}
