package reward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	// Logf, when set, receives a line per failed request.
	Logf func(format string, args ...any)
}

// Server answers the protocol for one Scorer.
type Server struct {
	scorer Scorer
	opt    ServerOptions
}

// NewServer returns the service of s.
func NewServer(s Scorer, opt ServerOptions) *Server {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 4096
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 256 << 20
	}
	return &Server{scorer: s, opt: opt}
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		fail(http.StatusRequestEntityTooLarge, "the request is larger than the %d bytes the service takes", s.opt.MaxBodyBytes)
		return
	}
	if err != nil {
		fail(http.StatusBadRequest, "reading the request: %v", err)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		fail(http.StatusBadRequest, "the body is not a rewards request: %v", err)
		return
	}
	if err := req.check(s.opt.MaxBatch); err != nil {
		fail(http.StatusBadRequest, "%v", err)
		return
	}
	src := make([]images.Planar, len(req.Images))
	for i, im := range req.Images {
		if src[i], err = DecodeImageWithin(im, s.opt.Size, s.opt.MaxPixels); err != nil {
			fail(http.StatusBadRequest, "image %d: %v", i, err)
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
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
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
