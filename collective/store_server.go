package collective

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Message kinds of the store protocol.
const (
	kindHello   = 'H' // client -> server: [protocol, token]
	kindSet     = 'S' // [key, value]
	kindGet     = 'G' // [timeout ms, key]
	kindWait    = 'W' // [timeout ms, key...]
	kindAdd     = 'A' // [key, delta]
	kindOK      = 'O' // server -> client: [results...]
	kindErr     = 'E' // [message]
	kindMissing = 'M' // [missing key...]
)

const (
	storeProtocol = "unigrpo-store/1"
	// handshakeTimeout bounds how long an unauthenticated connection may
	// stay silent.
	handshakeTimeout = 10 * time.Second
	// msgBadToken is the server's answer to a wrong token.
	msgBadToken = "wrong job token"
)

// tokenDigest hashes a token so that comparisons take constant time
// regardless of the tokens' lengths.
func tokenDigest(token string) [32]byte {
	return sha256.Sum256([]byte("unigrpo-job-token\x00" + token))
}

// tokenMatches compares a presented token with the expected digest in
// constant time.
func tokenMatches(want [32]byte, presented []byte) bool {
	got := tokenDigest(string(presented))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// server serves a table to authenticated clients.
type server struct {
	ln     net.Listener
	token  [32]byte
	tab    *table
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	// badTokens counts clients refused for a wrong token, to explain a
	// rendezvous that times out.
	badTokens atomic.Int64
}

// serve starts accepting clients on ln.
func serve(ln net.Listener, token string, tab *table) *server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{
		ln:     ln,
		token:  tokenDigest(token),
		tab:    tab,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

func (s *server) acceptLoop() {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait and go on serving.
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !s.track(conn) {
			conn.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.handle(conn)
		}()
	}
}

func (s *server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *server) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	conn.Close()
}

// handle authenticates one client and answers its requests until it leaves
// or sends something malformed.
func (s *server) handle(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	hello, err := readMessage(conn, maxHelloFrame)
	if err != nil {
		return
	}
	if hello.kind != kindHello || len(hello.fields) != 2 || string(hello.fields[0]) != storeProtocol {
		writeMessage(conn, message{kind: kindErr, fields: [][]byte{[]byte("not a " + storeProtocol + " client")}})
		return
	}
	if !tokenMatches(s.token, hello.fields[1]) {
		s.badTokens.Add(1)
		writeMessage(conn, message{kind: kindErr, fields: [][]byte{[]byte(msgBadToken)}})
		return
	}
	if writeMessage(conn, message{kind: kindOK}) != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	for {
		req, err := readMessage(conn, maxFrame)
		if err != nil {
			return
		}
		resp, ok := s.answer(req)
		if err := writeMessage(conn, resp); err != nil || !ok {
			return
		}
	}
}

// answer executes one request. ok is false when the connection should be
// dropped after the response.
func (s *server) answer(req message) (resp message, ok bool) {
	fail := func(msg string) (message, bool) {
		return message{kind: kindErr, fields: [][]byte{[]byte(msg)}}, false
	}
	switch req.kind {
	case kindSet:
		if len(req.fields) != 2 {
			return fail("set needs a key and a value")
		}
		s.tab.set(string(req.fields[0]), req.fields[1])
		return message{kind: kindOK}, true
	case kindAdd:
		if len(req.fields) != 2 {
			return fail("add needs a key and a delta")
		}
		delta, err := getInt64(req.fields[1])
		if err != nil {
			return fail("add: " + err.Error())
		}
		v, err := s.tab.add(string(req.fields[0]), delta)
		if err != nil {
			return message{kind: kindErr, fields: [][]byte{[]byte(err.Error())}}, true
		}
		return message{kind: kindOK, fields: [][]byte{putInt64(v)}}, true
	case kindGet, kindWait:
		if len(req.fields) < 2 || (req.kind == kindGet && len(req.fields) != 2) {
			return fail("get/wait needs a timeout and keys")
		}
		ms, err := getInt64(req.fields[0])
		if err != nil || ms < 0 {
			return fail("get/wait: bad timeout")
		}
		keys := make([]string, len(req.fields)-1)
		for i, f := range req.fields[1:] {
			keys[i] = string(f)
		}
		ctx, cancel := context.WithTimeout(s.ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
		if req.kind == kindGet {
			v, err := s.tab.get(ctx, keys[0])
			if err != nil {
				return waitFailure(err)
			}
			return message{kind: kindOK, fields: [][]byte{v}}, true
		}
		if err := s.tab.wait(ctx, keys); err != nil {
			return waitFailure(err)
		}
		return message{kind: kindOK}, true
	}
	return fail("unknown request")
}

// waitFailure encodes the error of a wait.
func waitFailure(err error) (message, bool) {
	var mk *MissingKeysError
	if errors.As(err, &mk) {
		fields := make([][]byte, len(mk.Keys))
		for i, k := range mk.Keys {
			fields[i] = []byte(k)
		}
		return message{kind: kindMissing, fields: fields}, true
	}
	return message{kind: kindErr, fields: [][]byte{[]byte(err.Error())}}, true
}

// close stops accepting, drops every client and waits for the handlers.
func (s *server) close() error {
	s.cancel()
	err := s.ln.Close()
	s.tab.close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
