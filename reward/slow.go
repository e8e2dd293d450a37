package reward

import (
	"fmt"
	"sync"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// Slow is a Scorer that takes Delay per caption before answering, one request at a time, like a
// decoder on one GPU that regenerates one image after another: `trainer serve-reward --delay`
// uses it to stand in for a slow text-to-image model in tests and benchmarks. The rewards are
// the inner Scorer's.
type Slow struct {
	Scorer
	Delay time.Duration

	mu sync.Mutex // one request decodes at a time
}

// NewSlow returns s slowed by delay per caption.
func NewSlow(s Scorer, delay time.Duration) (*Slow, error) {
	if delay < 0 {
		return nil, fmt.Errorf("delay %v: must not be negative", delay)
	}
	return &Slow{Scorer: s, Delay: delay}, nil
}

// Rewards waits its turn, then Delay per caption, then answers with the inner Scorer's rewards.
func (s *Slow) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	time.Sleep(time.Duration(len(captions)) * s.Delay)
	return s.Scorer.Rewards(src, G, captions, keys)
}
