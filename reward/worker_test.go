package reward

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// threadScorer records the OS thread it was built on and the threads it was called on, and how
// many of its kind run at once.
type threadScorer struct {
	built    int
	calls    []int
	inFlight *atomic.Int32
	most     *atomic.Int32
}

func (s *threadScorer) Embedders() []string { return []string{"fake"} }

func (s *threadScorer) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	s.calls = append(s.calls, syscall.Gettid())
	time.Sleep(20 * time.Millisecond)
	out := make([]float64, len(captions))
	for i := range out {
		out[i] = float64(len(captions[i]))
	}
	return out, nil, nil
}

// Oracle: the OS thread ids themselves (gettid) and exact counts. A Worker runs every function
// on one thread and turns a panic into an error; Workers builds each scorer on its worker's
// thread, calls it only there, never runs more requests at once than it has workers, and
// answers each request with its own scorer's result.
func TestWorkersRunOnTheirThreads(t *testing.T) {
	w := NewWorker()
	var tids []int
	for range 5 {
		if err := w.Do(func() error { tids = append(tids, syscall.Gettid()); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range tids[1:] {
		if id != tids[0] {
			t.Errorf("a worker ran on threads %v", tids)
			break
		}
	}
	if err := w.Do(func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panic gave %v", err)
	}
	if err := w.Do(func() error { return errors.New("plain") }); err == nil || err.Error() != "plain" {
		t.Errorf("an error came back as %v", err)
	}
	w.Close()

	var inFlight, most atomic.Int32
	var mu sync.Mutex
	var built []*threadScorer
	p, err := NewWorkers(2, func() (Scorer, error) {
		s := &threadScorer{built: syscall.Gettid(), inFlight: &inFlight, most: &most}
		mu.Lock()
		built = append(built, s)
		mu.Unlock()
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for r := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			caps := []string{strings.Repeat("x", r), "ab"}
			got, _, err := p.Rewards(nil, 1, caps, nil)
			if err != nil || len(got) != 2 || got[0] != float64(r) || got[1] != 2 {
				t.Errorf("request %d: %v, %v", r, got, err)
			}
		}()
	}
	wg.Wait()
	p.Close()
	if most.Load() > 2 || most.Load() < 1 {
		t.Errorf("%d requests ran at once on 2 workers", most.Load())
	}
	calls := 0
	for _, s := range built {
		calls += len(s.calls)
		for _, id := range s.calls {
			if id != s.built {
				t.Errorf("a scorer built on thread %d was called on %d", s.built, id)
			}
		}
	}
	if len(built) != 2 || calls != 6 || built[0].built == built[1].built {
		t.Errorf("%d scorers, %d calls (want 2 on two threads, 6 calls)", len(built), calls)
	}
	if _, err := NewWorkers(0, nil); err == nil {
		t.Error("0 workers accepted")
	}
	if _, err := NewWorkers(1, func() (Scorer, error) { return nil, errors.New("no model") }); err == nil || !strings.Contains(err.Error(), "no model") {
		t.Errorf("a failing open gave %v", err)
	}
}
