package reward_test

import (
	"math"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
)

// exampleBatch is B float images (sent as f32, so no Pillow is needed) and G captions each.
func exampleBatch(B, G int) ([]images.Planar, []string) {
	src := make([]images.Planar, B)
	for b := range src {
		src[b] = images.NewPlanar(3, 6, 6)
		for i := range src[b].Pix {
			src[b].Pix[i] = float32(0.1 + 0.8*float64((i*31+b*17)%97)/97)
		}
	}
	words := []string{"", "a red cube", "two blue spheres left of a green cylinder", "single", "one two three four five six seven eight nine ten"}
	caps := make([]string, B*G)
	for r := range caps {
		caps[r] = words[(r*7)%len(words)]
	}
	return src, caps
}

// checkExampleRewards compares rewards with the stand-in's computed here (standInReward, the
// oracle of the example server's tests).
func checkExampleRewards(t *testing.T, what string, src []images.Planar, G int, caps []string, rewards []float64) {
	t.Helper()
	if len(rewards) != len(caps) {
		t.Fatalf("%s: %d rewards for %d captions", what, len(rewards), len(caps))
	}
	for r, c := range caps {
		if want := standInReward(src[r/G], c); math.Abs(rewards[r]-want) > 1e-12 {
			t.Errorf("%s: caption %d %q: reward %.17g, want %.17g", what, r, c, rewards[r], want)
		}
	}
}

// The example server batches the requests that arrive together into one decoder call, and each
// request still gets its own rewards (oracle: the stand-in's reward computed here).
func TestPythonExampleBatches(t *testing.T) {
	py := python3(t)
	url, _, stderr := startExampleWith(t, py, "--batch-wait", "0.5", "--stand-in-delay", "0.05", "--verbose")
	c, err := reward.Dial(url, reward.ClientOptions{Deadline: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const G, calls = 2, 4
	src, caps := exampleBatch(calls, G)
	var wg sync.WaitGroup
	got := make([][]float64, calls)
	errs := make([]error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], _, errs[i] = c.Rewards(src[i:i+1], G, caps[i*G:(i+1)*G], stream.Keys(7, stream.Decode, 3, i*G, G))
		}(i)
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		checkExampleRewards(t, "concurrent request", src[i:i+1], G, caps[i*G:(i+1)*G], got[i])
	}
	// Four requests sent at once within the 0.5 s batch wait: fewer decoder calls than requests.
	log := stderr.String()
	if n := strings.Count(log, "one call for"); n == 0 || n >= calls || !strings.Contains(log, "captions)") {
		t.Errorf("%d decoder calls for %d concurrent requests, want fewer (batched):\n%s", n, calls, log)
	}
}

// stopExample sends SIGTERM and waits until the server's port refuses connections: the example
// shuts down gracefully, so without the wait a request sent right after the signal can still be
// served (the flake CI hit: the "killed" member answered the next call and stayed live).
func stopExample(t *testing.T, cmd *exec.Cmd, url string) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	addr := strings.TrimPrefix(url, "http://")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
	}
	t.Errorf("the example server at %s still accepts connections 10 s after SIGTERM", url)
}

// A pool of two example servers, one killed between calls and one killed mid-call in a pool of
// three: no caption is lost and every reward is the stand-in's.
func TestPoolOfPythonExamples(t *testing.T) {
	py := python3(t)
	var urls []string
	procs := make([]func(), 0, 3)
	for i := 0; i < 3; i++ {
		url, cmd, _ := startExampleWith(t, py, "--stand-in-delay", "0.3")
		urls = append(urls, url)
		procs = append(procs, func() { stopExample(t, cmd, url) })
	}
	var l logs
	p, err := reward.DialPool(urls, reward.ClientOptions{Deadline: 20 * time.Second, Tries: 2, Backoff: 10 * time.Millisecond}, l.logf)
	if err != nil {
		t.Fatal(err)
	}
	const G = 3
	src, caps := exampleBatch(6, G)
	keys := stream.Keys(7, stream.Decode, 3, 0, len(caps))
	rewards, _, err := p.Rewards(src, G, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	checkExampleRewards(t, "all up", src, G, caps, rewards)

	// Kill one member while its piece decodes (each call takes 0.3 s).
	stopped := make(chan struct{})
	go func() { time.Sleep(100 * time.Millisecond); procs[0](); close(stopped) }()
	rewards, _, err = p.Rewards(src, G, caps, keys)
	<-stopped
	if err != nil {
		t.Fatalf("one member killed mid-call: %v", err)
	}
	checkExampleRewards(t, "killed mid-call", src, G, caps, rewards)
	procs[1]() // returns once the port refuses connections: this member is down before the call
	rewards, _, err = p.Rewards(src, G, caps, keys)
	if err != nil {
		t.Fatalf("two members killed: %v", err)
	}
	checkExampleRewards(t, "one left", src, G, caps, rewards)
	if p.Live() != 1 || l.count() != 2 {
		t.Errorf("%d live, warnings %q; want 1 live and two warnings", p.Live(), l.lines)
	}
}
