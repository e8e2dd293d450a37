package reward_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
)

// Oracle for these tests: the status lines and timings seen by clients on loopback, against the
// limits given to the service.

// rawRequest sends a POST /v1/rewards header announcing length bytes and returns the connection.
func rawRequest(t *testing.T, addr string, length int64) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/rewards HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", length)
	return c
}

// statusWithin reads the status line of the answer on c within d ("" when none came).
func statusWithin(c net.Conn, d time.Duration) string {
	c.SetReadDeadline(time.Now().Add(d))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// A body announcing more than the limit is refused from its Content-Length, before any of it
// is sent: the answer comes at once.
func TestServiceRefusesByContentLength(t *testing.T) {
	url := serve(t, worldReward(t), reward.ServerOptions{MaxBodyBytes: 1 << 20})
	c := rawRequest(t, strings.TrimPrefix(url, "http://"), 100<<20)
	defer c.Close()
	if got := statusWithin(c, 2*time.Second); !strings.Contains(got, "413") {
		t.Fatalf("a request announcing 100 MB under a 1 MB limit: status %q within 2 s; want 413 at once", got)
	}
}

// With slow senders, oversized bodies (announced and unannounced) and a stream of valid
// requests at once, the valid ones are answered within 2 s, the slow connections are closed at
// the read timeout, and the heap does not grow by the bodies it refused.
func TestServiceLimitsUnderBadClients(t *testing.T) {
	rw := worldReward(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := reward.NewServer(rw, reward.ServerOptions{MaxBodyBytes: 1 << 20,
		Limits: reward.Limits{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { stop(); <-done }()
	addr := ln.Addr().String()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var wg sync.WaitGroup
	slowClosed := make(chan time.Duration, 4)
	for range 4 { // slow senders: a byte every 100 ms of an announced 1000
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := rawRequest(t, addr, 1000)
			defer c.Close()
			t0 := time.Now()
			for i := 0; i < 100; i++ {
				if _, err := c.Write([]byte(" ")); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			statusWithin(c, 5*time.Second)
			slowClosed <- time.Since(t0)
		}()
	}
	for range 4 { // unannounced bodies of 4 MB, sent as fast as they go
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/rewards HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			chunk := strings.Repeat("a", 64<<10)
			for i := 0; i < 64; i++ {
				if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					break
				}
			}
			statusWithin(c, 5*time.Second)
		}()
	}
	src, caps, keys := batch(2, 2, true)
	cl, err := reward.Dial("http://"+addr, reward.ClientOptions{Deadline: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		t0 := time.Now()
		if _, _, err := cl.Rewards(src, 2, caps, keys); err != nil {
			t.Fatalf("valid request %d beside bad clients: %v", i, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("valid request %d took %v beside bad clients; want under 2 s", i, d)
		}
	}
	wg.Wait()
	close(slowClosed)
	for d := range slowClosed {
		if d > 3*time.Second {
			t.Errorf("a slow sender held its connection %v; the read timeout is 1 s", d)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Errorf("the heap grew by %d MB serving bad clients", grew>>20)
	}
}

// blockingScorer scores only when let through, so that requests pile up.
type blockingScorer struct{ gate chan struct{} }

func (blockingScorer) Embedders() []string { return []string{"e"} }

func (b blockingScorer) Rewards(src []images.Planar, G int, caps []string, _ []stream.Key) ([]float64, [][]float64, error) {
	<-b.gate
	r, p := make([]float64, len(caps)), make([][]float64, len(caps))
	for i := range p {
		p[i] = []float64{0}
	}
	return r, p, nil
}

// With one scoring slot and one place in the queue, a third concurrent request is answered 503
// with Retry-After at once, the queued one 503 after the queue wait; the first is answered
// when its scoring ends.
func TestServiceCapsConcurrentRequests(t *testing.T) {
	gate := make(chan struct{})
	url := serve(t, blockingScorer{gate}, reward.ServerOptions{
		Limits: reward.Limits{MaxScoring: 1, MaxQueued: 1, QueueWait: 300 * time.Millisecond}})
	body := `{"protocol":1,"group":1,"images":[{"png":"` + onePixelPNG(t) + `"}],"captions":["a"],"keys":[{}]}`
	type answer struct {
		status int
		retry  string
		took   time.Duration
	}
	send := func(out chan<- answer) {
		t0 := time.Now()
		res, err := http.Post(url+"/v1/rewards", "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			out <- answer{}
			return
		}
		res.Body.Close()
		out <- answer{res.StatusCode, res.Header.Get("Retry-After"), time.Since(t0)}
	}
	first := make(chan answer, 1)
	go send(first)
	time.Sleep(100 * time.Millisecond) // the first is scoring
	queued := make(chan answer, 1)
	go send(queued)
	time.Sleep(50 * time.Millisecond) // the second waits in the queue
	third := make(chan answer, 1)
	send(third)
	if a := <-third; a.status != http.StatusServiceUnavailable || a.retry == "" || a.took > 200*time.Millisecond {
		t.Errorf("beyond the queue: %d Retry-After %q after %v; want 503 with Retry-After at once", a.status, a.retry, a.took)
	}
	if a := <-queued; a.status != http.StatusServiceUnavailable || a.retry == "" {
		t.Errorf("queued past the wait: %d Retry-After %q", a.status, a.retry)
	}
	close(gate)
	if a := <-first; a.status != http.StatusOK {
		t.Errorf("the request being scored: %d, want 200", a.status)
	}
}

// onePixelPNG is a 1x1 black source image on the wire (base64 PNG).
func onePixelPNG(t *testing.T) string {
	t.Helper()
	w, err := reward.EncodeImage(images.FromRGB8(1, 1, []uint8{0, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	return w.PNG
}

// A request whose images together hold more pixels than MaxRequestPixels is answered 400, each
// image being within the per-image budget. Oracle: 4 one-pixel images against a bound of 3.
func TestServiceBoundsARequestsPixels(t *testing.T) {
	url := serve(t, blockingScorer{gate: closedGate()}, reward.ServerOptions{MaxRequestPixels: 3})
	px := onePixelPNG(t)
	img := `{"png":"` + px + `"}`
	body := `{"protocol":1,"group":1,"images":[` + img + `,` + img + `,` + img + `,` + img + `],"captions":["a","b","c","d"],"keys":[{},{},{},{}]}`
	status, res := post(t, url, body)
	if status != http.StatusBadRequest || !strings.Contains(res.Error, "pixels in all") {
		t.Fatalf("4 pixels under a bound of 3: %d %q; want 400", status, res.Error)
	}
	three := `{"protocol":1,"group":1,"images":[` + img + `,` + img + `,` + img + `],"captions":["a","b","c"],"keys":[{},{},{}]}`
	if status, res := post(t, url, three); status != http.StatusOK {
		t.Fatalf("3 pixels under a bound of 3: %d %q; want 200", status, res.Error)
	}
}

// closedGate lets a blockingScorer through at once.
func closedGate() chan struct{} {
	g := make(chan struct{})
	close(g)
	return g
}
