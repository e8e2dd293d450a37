package reward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// Scorer is what the service serves: the reward computed in this process (the world's renderer
// and embedders are one).
type Scorer interface {
	Embedders() []string
	Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error)
}

// ServerOptions bound what the service accepts.
type ServerOptions struct {
	MaxBatch     int   // most captions per request (default 4096)
	MaxBodyBytes int64 // largest request body (default 256 MiB)
	// Size is the side source images given by path are fitted to (the policy's input); 0 refuses
	// images given by path (the default: a service reachable from other machines should not read
	// files for them).
	Size int
	// MaxPixels is the most pixels of one source image (0: images.DefaultMaxPixels); a larger
	// one is answered 400 from its header, before it is decoded.
	MaxPixels int
	// MaxRequestPixels bounds the pixels of all of a request's images together (default 256
	// megapixels, about 3 GB as float pixels): a body under the byte limit can hold thousands of
	// small PNGs that each decode to the per-image budget.
	MaxRequestPixels int
	// Logf, when set, receives a line per failed request.
	Logf func(format string, args ...any)

	// The limits that keep one client from taking the service from the others (Limits).
	Limits
}

// Limits bound the time and memory requests may take. A request's body is read only while one
// of MaxReading slots is free, so bodies in memory stay under MaxReading x MaxBodyBytes, and it
// is scored only in one of MaxScoring slots; a request that finds no slot within QueueWait, or
// more than MaxQueued others waiting, is answered 503 with Retry-After (the client retries
// a 503 with backoff). A body announcing more than MaxBodyBytes is refused from its Content-Length;
// one sent without a length is cut off at the limit.
type Limits struct {
	ReadHeaderTimeout time.Duration // a request's headers must arrive within this (default 10 s)
	ReadTimeout       time.Duration // its headers and body within this (default 60 s)
	MaxReading        int           // bodies read at once (default 8)
	MaxScoring        int           // requests scored at once (default 2)
	MaxQueued         int           // requests waiting for a slot (default 64)
	QueueWait         time.Duration // longest wait for a slot (default 30 s)
}

func (l Limits) withDefaults() Limits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 10 * time.Second
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 60 * time.Second
	}
	if l.MaxReading <= 0 {
		l.MaxReading = 8
	}
	if l.MaxScoring <= 0 {
		l.MaxScoring = 2
	}
	if l.MaxQueued <= 0 {
		l.MaxQueued = 64
	}
	if l.QueueWait <= 0 {
		l.QueueWait = 30 * time.Second
	}
	return l
}

// Server answers the protocol for one Scorer.
type Server struct {
	scorer           Scorer
	opt              ServerOptions
	reading, scoring chan struct{} // the slots (Limits)
	queued           atomic.Int64  // requests waiting for a slot
}

// NewServer returns the service of s.
func NewServer(s Scorer, opt ServerOptions) *Server {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 4096
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 256 << 20
	}
	if opt.MaxRequestPixels <= 0 {
		opt.MaxRequestPixels = 256_000_000
	}
	opt.Limits = opt.Limits.withDefaults()
	return &Server{scorer: s, opt: opt, reading: make(chan struct{}, opt.MaxReading), scoring: make(chan struct{}, opt.MaxScoring)}
}

// errBusy is a request that found no free slot in time.
var errBusy = errors.New("the service is busy")

// acquire takes a slot of sem, waiting at most QueueWait behind at most MaxQueued others.
func (s *Server) acquire(ctx context.Context, sem chan struct{}) (release func(), err error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	default:
	}
	if s.queued.Add(1) > int64(s.opt.MaxQueued) {
		s.queued.Add(-1)
		return nil, errBusy
	}
	defer s.queued.Add(-1)
	t := time.NewTimer(s.opt.QueueWait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-t.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Handler is the service's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Info{Protocol: Protocol, Embedders: s.scorer.Embedders(), MaxBatch: s.opt.MaxBatch, MaxBodyBytes: s.opt.MaxBodyBytes})
	})
	mux.HandleFunc("POST /v1/rewards", s.rewards)
	return mux
}

func (s *Server) rewards(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if s.opt.Logf != nil {
			s.opt.Logf("reward service: %s %s: %s", r.Method, r.URL.Path, msg)
		}
		writeJSON(w, status, Response{Protocol: Protocol, Error: msg})
	}
	busy := func(err error) {
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, "%v; try again shortly", err)
	}
	if r.ContentLength > s.opt.MaxBodyBytes {
		w.Header().Set("Connection", "close") // the body is not read
		fail(http.StatusRequestEntityTooLarge, "the request is %d bytes, larger than the %d bytes the service takes", r.ContentLength, s.opt.MaxBodyBytes)
		return
	}
	release, err := s.acquire(r.Context(), s.reading)
	if err != nil {
		busy(err)
		return
	}
	var req Request
	err = json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)).Decode(&req)
	release()
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		fail(http.StatusRequestEntityTooLarge, "the request is larger than the %d bytes the service takes", s.opt.MaxBodyBytes)
		return
	}
	if err != nil {
		fail(http.StatusBadRequest, "the body is not a rewards request: %v", err)
		return
	}
	if release, err = s.acquire(r.Context(), s.scoring); err != nil {
		busy(err)
		return
	}
	defer release()
	if err := req.check(s.opt.MaxBatch); err != nil {
		fail(http.StatusBadRequest, "%v", err)
		return
	}
	src := make([]images.Planar, len(req.Images))
	pixels := 0
	for i, im := range req.Images {
		if src[i], err = DecodeImageWithin(im, s.opt.Size, s.opt.MaxPixels); err != nil {
			fail(http.StatusBadRequest, "image %d: %v", i, err)
			return
		}
		if pixels += src[i].H * src[i].W; pixels > s.opt.MaxRequestPixels {
			fail(http.StatusBadRequest, "the images hold more than the %d pixels in all one request may (image %d passes it): send fewer images per request", s.opt.MaxRequestPixels, i)
			return
		}
	}
	keys := make([]stream.Key, len(req.Keys))
	for i, k := range req.Keys {
		keys[i] = k.Key
	}
	rewards, parts, err := s.scorer.Rewards(src, req.Group, req.Captions, keys)
	if err != nil {
		fail(http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, Response{Protocol: Protocol, Embedders: s.scorer.Embedders(), Rewards: rewards, Parts: parts})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	js, err := json.Marshal(v)
	if err != nil {
		status, js = http.StatusInternalServerError, []byte(`{"protocol":1,"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(js, '\n'))
}

// Listen opens addr: HOST:PORT for TCP, or unix:///PATH for a Unix socket.
func Listen(addr string) (net.Listener, error) {
	if len(addr) > 7 && addr[:7] == "unix://" {
		return net.Listen("unix", addr[7:])
	}
	return net.Listen("tcp", addr)
}

// Serve answers on ln until ctx ends, then shuts down, letting requests in flight finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: s.opt.ReadHeaderTimeout, ReadTimeout: s.opt.ReadTimeout,
		IdleTimeout: 2 * s.opt.ReadTimeout, MaxHeaderBytes: 64 << 10}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if e := <-done; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	}
}
