package reward_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// Oracle for these tests: the world's reward computed in this process (task.Reward), which a pool
// of services must reproduce bit for bit whatever its members do, as one service does.

// member is one service of a test pool that can be made to die (its connections refused from then
// on, requests in flight broken) or to stall (never answer).
type member struct {
	srv     *httptest.Server
	scorer  reward.Scorer
	served  atomic.Int64 // captions answered
	dead    atomic.Bool
	stalled atomic.Bool
	stall   chan struct{} // closed when the test ends, releasing stalled handlers
}

func startMember(t *testing.T, s reward.Scorer) *member {
	t.Helper()
	m := &member{scorer: s, stall: make(chan struct{})}
	h := reward.NewServer(countingScorer{s, &m.served, m}, reward.ServerOptions{}).Handler()
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.dead.Load() {
			// Break the connection without an answer, as a process that died would.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(m.stall); m.srv.CloseClientConnections(); m.srv.Close() })
	return m
}

// kill makes the member refuse everything from now on, as a killed process.
func (m *member) kill() {
	m.dead.Store(true)
	m.srv.Listener.Close()
	m.srv.CloseClientConnections()
}

// countingScorer counts the captions its member answers, and stalls when the member is stalled.
type countingScorer struct {
	reward.Scorer
	n *atomic.Int64
	m *member
}

func (c countingScorer) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	if c.m.stalled.Load() {
		<-c.m.stall
	}
	r, p, err := c.Scorer.Rewards(src, G, captions, keys)
	if err == nil {
		c.n.Add(int64(len(captions)))
	}
	return r, p, err
}

// logs collects a pool's warnings.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func dialPool(t *testing.T, ms []*member, opt reward.ClientOptions, l *logs) *reward.Pool {
	t.Helper()
	urls := make([]string, len(ms))
	for i, m := range ms {
		urls[i] = m.srv.URL
	}
	p, err := reward.DialPool(urls, opt, l.logf)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sameRewards(t *testing.T, what string, got, want []float64, gotParts, wantParts [][]float64) {
	t.Helper()
	if len(got) != len(want) || len(gotParts) != len(wantParts) {
		t.Fatalf("%s: %d rewards and %d parts, want %d and %d", what, len(got), len(gotParts), len(want), len(wantParts))
	}
	for r := range want {
		if got[r] != want[r] {
			t.Errorf("%s: reward %d = %v, want %v", what, r, got[r], want[r])
		}
		for k := range wantParts[r] {
			if gotParts[r][k] != wantParts[r][k] {
				t.Errorf("%s: part %d,%d = %v, want %v", what, r, k, gotParts[r][k], wantParts[r][k])
			}
		}
	}
}

// A pool of three services gives the in-process rewards bit for bit and spreads a call over all
// of them; the stats count every caption once.
func TestPoolEqualsOneService(t *testing.T) {
	rw := worldReward(t)
	ms := []*member{startMember(t, rw), startMember(t, rw), startMember(t, rw)}
	var l logs
	p := dialPool(t, ms, reward.ClientOptions{}, &l)
	src, caps, keys := batch(7, 3, false)
	want, wantParts, err := rw.Rewards(src, 3, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	got, gotParts, err := p.Rewards(src, 3, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	sameRewards(t, "pool of 3", got, want, gotParts, wantParts)
	total := 0
	for i, m := range ms {
		if m.served.Load() == 0 {
			t.Errorf("member %d served nothing: the call was not spread", i)
		}
		total += int(m.served.Load())
	}
	st := p.Stats()
	counted := 0
	for _, s := range st {
		counted += s.Images
		if !s.Live || s.Busy <= 0 || s.ImagesPerS() <= 0 {
			t.Errorf("stats %+v: want live, busy, images/s > 0", s)
		}
	}
	if total != len(caps) || counted != len(caps) {
		t.Errorf("served %d captions, stats count %d, want %d each", total, counted, len(caps))
	}
	if again := p.Stats(); again[0].Images != 0 || again[0].Busy != 0 {
		t.Errorf("stats after stats: %+v, want zero (since the previous call)", again[0])
	}
	// One image: one piece, one member.
	got, gotParts, err = p.Rewards(src[:1], 3, caps[:3], keys[:3])
	if err != nil {
		t.Fatal(err)
	}
	sameRewards(t, "one image", got, want[:3], gotParts, wantParts[:3])
	if l.count() != 0 {
		t.Errorf("warnings with every member up: %v", l.lines)
	}
}

// Killing members mid-run loses nothing: their pieces go to the others and the rewards stay the
// in-process ones, with one warning per dropped member; with every member dead the call fails with
// an error that says so, promptly.
func TestPoolSurvivesDeadMembers(t *testing.T) {
	rw := worldReward(t)
	ms := []*member{startMember(t, rw), startMember(t, rw), startMember(t, rw)}
	var l logs
	p := dialPool(t, ms, reward.ClientOptions{Deadline: 10 * time.Second, Tries: 2, Backoff: 10 * time.Millisecond}, &l)
	src, caps, keys := batch(6, 2, true)
	want, wantParts, err := rw.Rewards(src, 2, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	ms[1].kill()
	for call := 0; call < 3; call++ {
		got, gotParts, err := p.Rewards(src, 2, caps, keys)
		if err != nil {
			t.Fatalf("call %d with one member dead: %v", call, err)
		}
		sameRewards(t, "one dead", got, want, gotParts, wantParts)
	}
	if p.Live() != 2 || l.count() != 1 || !strings.Contains(l.lines[0], "dropping reward service") {
		t.Errorf("%d live, warnings %q; want 2 live and one warning", p.Live(), l.lines)
	}
	ms[0].kill()
	got, gotParts, err := p.Rewards(src, 2, caps, keys)
	if err != nil {
		t.Fatalf("with two members dead: %v", err)
	}
	sameRewards(t, "two dead", got, want, gotParts, wantParts)
	st := p.Stats()
	if st[0].Live || st[1].Live || !st[2].Live {
		t.Errorf("stats live: %v %v %v, want false false true", st[0].Live, st[1].Live, st[2].Live)
	}
	ms[2].kill()
	t0 := time.Now()
	_, _, err = p.Rewards(src, 2, caps, keys)
	if err == nil || !strings.Contains(err.Error(), "no reward service is left") {
		t.Fatalf("every member dead: err %v, want one saying no service is left", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("every member dead: the error took %v", d)
	}
	t.Logf("every member dead: %v", err)
}

// A member that stops answering is dropped when its deadline runs out, and its pieces are answered
// by the others.
func TestPoolDropsStalledMember(t *testing.T) {
	rw := worldReward(t)
	ms := []*member{startMember(t, rw), startMember(t, rw)}
	var l logs
	p := dialPool(t, ms, reward.ClientOptions{Deadline: 500 * time.Millisecond}, &l)
	ms[0].stalled.Store(true)
	src, caps, keys := batch(4, 2, false)
	want, wantParts, err := rw.Rewards(src, 2, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	got, gotParts, err := p.Rewards(src, 2, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	sameRewards(t, "one stalled", got, want, gotParts, wantParts)
	if p.Live() != 1 || ms[1].served.Load() != int64(len(caps)) {
		t.Errorf("%d live, the other member served %d captions; want 1 live and all %d", p.Live(), ms[1].served.Load(), len(caps))
	}
}

// An error answer is not a dead member: the call fails with the service's message, nothing is
// dropped. Members serving different embedders are refused at dial.
func TestPoolAnswerErrorsAndMismatch(t *testing.T) {
	rw := worldReward(t)
	ms := []*member{startMember(t, rw), startMember(t, rw)}
	var l logs
	p := dialPool(t, ms, reward.ClientOptions{}, &l)
	src, caps, keys := batch(2, 2, false)
	_, _, err := p.Rewards(src, 2, caps[:3], keys[:3])
	if err == nil {
		t.Fatal("a malformed call was accepted")
	}
	bad := src[0]
	bad.C = 1
	_, _, err = p.Rewards([]images.Planar{bad, src[1]}, 2, caps, keys)
	if err == nil || reward.IsTransport(err) || p.Live() != 2 || l.count() != 0 {
		t.Errorf("bad image: err %v (transport %v), %d live, warnings %v; want an answer error and no member dropped", err, reward.IsTransport(err), p.Live(), l.lines)
	}

	other, err := task.NewReward(world.DefaultConfig(), "conv")
	if err != nil {
		t.Fatal(err)
	}
	odd := startMember(t, other)
	if _, err := reward.DialPool([]string{ms[0].srv.URL, odd.srv.URL}, reward.ClientOptions{}, nil); err == nil || !strings.Contains(err.Error(), "same reward") {
		t.Errorf("members with different embedders: %v", err)
	}
	if _, err := reward.DialPool([]string{ms[0].srv.URL, ms[0].srv.URL}, reward.ClientOptions{}, nil); err == nil {
		t.Error("the same member twice was accepted")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := reward.DialPool([]string{ms[0].srv.URL, "http://" + addr}, reward.ClientOptions{Tries: 1}, nil); err == nil || !reward.IsTransport(err) {
		t.Errorf("a member that is not there at dial: %v, want a transport error", err)
	}
}
