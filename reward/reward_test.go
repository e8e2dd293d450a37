package reward_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// Oracle for these tests: the world's reward computed in this process (worldtask.Reward), which
// the service must reproduce bit for bit.

func worldReward(t *testing.T) *task.Reward {
	t.Helper()
	rw, err := task.NewReward(world.DefaultConfig(), "all")
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

// batch is B rendered scenes (float pixels: sent as f32) or, with eightBit, the same rounded to
// 8 bits (sent as PNG), G captions each and their keys.
func batch(B, G int, eightBit bool) ([]images.Planar, []string, []stream.Key) {
	src, _ := task.Source{World: world.DefaultConfig()}.Images(5, 2, 0, B)
	if eightBit {
		for b, im := range src {
			rgba := im.ToRGBA(1)
			rgb := make([]uint8, 0, 3*im.H*im.W)
			for i := 0; i < len(rgba.Pix); i += 4 {
				rgb = append(rgb, rgba.Pix[i:i+3]...)
			}
			src[b] = images.FromRGB8(im.W, im.H, rgb)
		}
	}
	words := []string{"", "large red circle center", "small blue square top-left and large green cross bottom-right on-gray",
		"red", "circle circle circle", "a caption in words the world does not know", "large yellow triangle top-right on-black"}
	caps := make([]string, B*G)
	for r := range caps {
		caps[r] = words[(r*3)%len(words)]
	}
	return src, caps, stream.Keys(5, stream.Decode, 2, 0, B*G)
}

func serve(t *testing.T, s reward.Scorer, opt reward.ServerOptions) string {
	t.Helper()
	srv := httptest.NewServer(reward.NewServer(s, opt).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// The remote reward equals the in-process reward bit for bit, for float images (f32 on the wire)
// and 8-bit images (PNG), and when a batch is split over several requests by the service's limit.
func TestRemoteEqualsInProcess(t *testing.T) {
	rw := worldReward(t)
	for _, c := range []struct {
		name     string
		eightBit bool
		maxBatch int
	}{{"f32", false, 0}, {"png", true, 0}, {"split", false, 6}} {
		t.Run(c.name, func(t *testing.T) {
			src, caps, keys := batch(5, 3, c.eightBit)
			if src[0].Is8Bit() != c.eightBit {
				t.Fatalf("test images: 8-bit %v, want %v", src[0].Is8Bit(), c.eightBit)
			}
			want, wantParts, err := rw.Rewards(src, 3, caps, keys)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := reward.Dial(serve(t, rw, reward.ServerOptions{MaxBatch: c.maxBatch}), reward.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, parts, err := cl.Rewards(src, 3, caps, keys)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(cl.Embedders(), ",") != strings.Join(rw.Embedders(), ",") {
				t.Errorf("embedders %v, want %v", cl.Embedders(), rw.Embedders())
			}
			for r := range want {
				if got[r] != want[r] {
					t.Errorf("caption %d: remote %v, in process %v", r, got[r], want[r])
				}
				for k := range wantParts[r] {
					if parts[r][k] != wantParts[r][k] {
						t.Errorf("caption %d embedder %d: remote %v, in process %v", r, k, parts[r][k], wantParts[r][k])
					}
				}
			}
		})
	}
}

// A Unix socket serves the same protocol.
func TestUnixSocket(t *testing.T) {
	rw := worldReward(t)
	sock := filepath.Join(t.TempDir(), "reward.sock")
	ln, err := reward.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reward.NewServer(rw, reward.ServerOptions{}).Serve(ctx, ln) }()
	cl, err := reward.Dial("unix://"+sock, reward.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, caps, keys := batch(2, 2, false)
	if _, _, err := cl.Rewards(src, 2, caps, keys); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// The server checks the version, the shapes and the batch limit; the client checks the version of
// the service and the answers it gets, and says clearly what is wrong, within its deadline.
func TestBadPeersAreClearErrors(t *testing.T) {
	rw := worldReward(t)
	url := serve(t, rw, reward.ServerOptions{MaxBatch: 8})
	for _, c := range []struct{ body, want string }{
		{`{"protocol":2,"group":1,"images":[],"captions":[],"keys":[]}`, "protocol 2"},
		{`{"protocol":1,"group":2,"images":[{"png":"AAAA"}],"captions":["a"],"keys":[{}]}`, "1 captions for 1 images x group 2"},
		{`{"protocol":1,"group":1,"images":[{"png":"!!"}],"captions":["a"],"keys":[{}]}`, "image 0: png"},
		{`{"protocol":1,"group":1,"images":[{}],"captions":["a"],"keys":[{}]}`, "exactly one of"},
		{`{"protocol":1,"group":9,"images":[{}],"captions":["a","a","a","a","a","a","a","a","a"],"keys":[{},{},{},{},{},{},{},{},{}]}`, "at most 8"},
		{`not json`, "not a rewards request"},
	} {
		res, err := http.Post(url+"/v1/rewards", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var body [512]byte
		n, _ := res.Body.Read(body[:])
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body[:n]), c.want) {
			t.Errorf("%s: %s %s; want 400 mentioning %q", c.body, res.Status, body[:n], c.want)
		}
	}

	// Services that answer in another protocol, with garbage, or with the wrong number of rewards.
	fake := func(info, rewards string) string {
		mux := http.NewServeMux()
		mux.HandleFunc("/v1/info", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, info) })
		mux.HandleFunc("/v1/rewards", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, rewards) })
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	good := `{"protocol":1,"embedders":["e"],"max_batch":100}`
	if _, err := reward.Dial(fake(`{"protocol":7,"embedders":["e"]}`, ""), reward.ClientOptions{}); err == nil || !strings.Contains(err.Error(), "speaks protocol 7") {
		t.Errorf("protocol 7 service: %v", err)
	}
	if _, err := reward.Dial(fake(`<html>`, ""), reward.ClientOptions{}); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("HTML info: %v", err)
	}
	src, caps, keys := batch(1, 2, false)
	for body, want := range map[string]string{
		`garbage`: "not a rewards response",
		`{"protocol":1,"embedders":["e"],"rewards":[0.5],"parts":[[0.5]]}`:              "1 rewards and 1 parts for 2 captions",
		`{"protocol":1,"embedders":["e"],"rewards":[0.5,1e999],"parts":[[0.5],[0.5]]}`:  "not a rewards response",
		`{"protocol":1,"embedders":["e"],"rewards":[0.5,0.5],"parts":[[0.5],[0.5, 1]]}`: "2 parts for caption 1",
		`{"protocol":2,"embedders":["e"],"rewards":[0.5,0.5],"parts":[[0.5],[0.5]]}`:    "protocol 2",
	} {
		cl, err := reward.Dial(fake(good, body), reward.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cl.Rewards(src, 2, caps, keys); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("answer %s: %v; want an error mentioning %q", body, err, want)
		}
	}
}

// A service that is down, goes down mid-run, or never answers stops the call with a clear error
// within the deadline, after a bounded number of tries.
func TestServiceDownIsAnErrorNotAHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	t0 := time.Now()
	_, err = reward.Dial(addr, reward.ClientOptions{Tries: 3, Backoff: 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not reachable") || time.Since(t0) > 5*time.Second {
		t.Errorf("dead service: %v after %v", err, time.Since(t0))
	}

	// Killed mid-run: the first call works, the next fails after its tries.
	rw := worldReward(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		reward.NewServer(rw, reward.ServerOptions{}).Handler().ServeHTTP(w, r)
	}))
	cl, err := reward.Dial(srv.URL, reward.ClientOptions{Tries: 3, Backoff: 20 * time.Millisecond, Deadline: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	src, caps, keys := batch(2, 2, false)
	if _, _, err := cl.Rewards(src, 2, caps, keys); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	t0 = time.Now()
	if _, _, err := cl.Rewards(src, 2, caps, keys); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("after the service stopped: %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the failed call took %v, past its deadline", d)
	}

	// Stuck: the service accepts and never answers; the deadline ends the call.
	block := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/info" {
			fmt.Fprint(w, `{"protocol":1,"embedders":["e"]}`)
			return
		}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	defer close(block)
	cl, err = reward.Dial(stuck.URL, reward.ClientOptions{Deadline: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if _, _, err := cl.Rewards(src, 2, caps, keys); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("stuck service: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("the stuck call took %v with a 300 ms deadline", d)
	}
}

// Several ranks share one service: concurrent calls all get the in-process rewards. A small body
// limit splits a batch into several requests, and hidden states travel only when asked for.
func TestSharedServiceBodyLimitAndHidden(t *testing.T) {
	rw := worldReward(t)
	src, caps, keys := batch(4, 2, false)
	want, _, err := rw.Rewards(src, 2, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	var sawHidden atomic.Int32
	inner := reward.NewServer(rw, reward.ServerOptions{MaxBodyBytes: 40 << 10}).Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/rewards" {
			requests.Add(1)
			if r.ContentLength > 40<<10 {
				t.Errorf("a request of %d bytes, over the service's limit", r.ContentLength)
			}
			var body strings.Builder
			buf := make([]byte, 64<<10)
			for {
				n, err := r.Body.Read(buf)
				body.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if strings.Contains(body.String(), `"hidden"`) {
				sawHidden.Add(1)
			}
			r.Body = readCloser{strings.NewReader(body.String())}
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	hidden := make([][]float32, len(caps))
	for r := range hidden {
		hidden[r] = []float32{float32(r), 0.5}
	}
	for _, send := range []bool{false, true} {
		cl, err := reward.Dial(srv.URL, reward.ClientOptions{SendHidden: send})
		if err != nil {
			t.Fatal(err)
		}
		requests.Store(0)
		sawHidden.Store(0)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				got, _, err := cl.RewardsWithHidden(src, 2, caps, hidden, keys)
				for r := range want {
					if err == nil && got[r] != want[r] {
						err = fmt.Errorf("caption %d: %v, want %v", r, got[r], want[r])
					}
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if n := requests.Load(); n <= 4 {
			t.Errorf("%d requests for 4 calls of 4 images of 12 KB under a 40 KB limit; want them split", n)
		}
		if got := sawHidden.Load() > 0; got != send {
			t.Errorf("SendHidden %v: hidden states sent %v", send, got)
		}
		if _, _, err := cl.RewardsWithHidden(src, 2, caps, hidden[:3], keys); err == nil {
			t.Error("3 hidden states for 8 captions accepted")
		}
	}
	// A path is not read unless the service allows it.
	res, err := http.Post(srv.URL+"/v1/rewards", "application/json", strings.NewReader(`{"protocol":1,"group":1,"images":[{"path":"/etc/passwd"}],"captions":["a"],"keys":[{}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("a path image on a service that reads no files: %s", res.Status)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
