package trainer

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
)

// This file overlaps the reward with the rollout (--reward-overlap): when the reward is computed
// by services (a reward.Remote) and the rollout samples its images in chunks (--rollout-batch),
// the rewards of each chunk are asked for as soon as it is sampled, while the next chunk is
// sampled. The update waits for every reward, so the step stays on-policy; each caption's reward
// depends only on its caption, source and key, so the step's metrics are the ones without overlap.

// overlaps reports whether this run overlaps the reward with the rollout.
func (g *grpo) overlaps() bool {
	if !g.cfg.RewardOverlap || g.drawer != nil {
		return false
	}
	_, remote := g.task.Reward.(reward.Remote)
	return remote
}

// pendingRewards are the rewards of a step's rollout chunks, asked for as each chunk is sampled.
type pendingRewards struct {
	g        *grpo
	step, lo int // the step and this rank's first image
	G        int
	rewards  []float64   // [N] filled by the chunks' calls
	parts    [][]float64 // [N][K]
	wg       sync.WaitGroup
	mu       sync.Mutex // guards errs and spans
	errs     []error
	spans    []span // when each chunk's call ran
}

// span is a call's start and end.
type span struct{ start, end time.Time }

// newPendingRewards is ready for the chunks of a rollout of B images from global image lo on.
func (g *grpo) newPendingRewards(step, lo, B int) *pendingRewards {
	N := B * g.cfg.Group
	return &pendingRewards{g: g, step: step, lo: lo, G: g.cfg.Group, rewards: make([]float64, N), parts: make([][]float64, N)}
}

// start asks for the rewards of the images [b, e) of the rank's rollout in the background: their
// captions' texts and, for a reward that reads them, hidden states [(e-b)*G] (nil: none).
func (p *pendingRewards) start(src []images.Planar, b, e int, texts []string, hidden [][]float32) {
	G := p.G
	keys := stream.Keys(p.g.cfg.Seed, stream.Decode, p.step, (p.lo+b)*G, (e-b)*G)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t0 := time.Now()
		var r []float64
		var parts [][]float64
		var err error
		if p.g.hidden != nil && hidden != nil {
			r, parts, err = p.g.hidden.RewardsWithHidden(src, G, texts, hidden, keys)
		} else {
			r, parts, err = p.g.task.Reward.Rewards(src, G, texts, keys)
		}
		if err == nil && (len(r) != len(texts) || len(parts) != len(texts)) {
			err = fmt.Errorf("%d rewards and %d parts for %d captions", len(r), len(parts), len(texts))
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.spans = append(p.spans, span{t0, time.Now()})
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("images %d-%d: %w", p.lo+b, p.lo+e-1, err))
			return
		}
		copy(p.rewards[b*G:], r)
		copy(p.parts[b*G:], parts)
	}()
}

// wait waits for every chunk's rewards and returns the step's rewards and advantages. Its time is
// the wait after the rollout (the reward's cost to the step), busy the time during which any call
// was running.
func (p *pendingRewards) wait() (*rewarded, error) {
	t0 := time.Now()
	p.wg.Wait()
	if len(p.errs) > 0 {
		return nil, p.errs[0]
	}
	rw := &rewarded{rewards: p.rewards, parts: p.parts, busy: union(p.spans)}
	rw.adv, rw.zeroStd = Advantages(rw.rewards, p.G, 1e-6, p.g.cfg.ScaleStd)
	rw.time = time.Since(t0)
	return rw, nil
}

// union is the total time covered by the spans.
func union(spans []span) time.Duration {
	s := append([]span(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i].start.Before(s[j].start) })
	var total time.Duration
	var cur span
	for i, x := range s {
		switch {
		case i == 0:
			cur = x
		case x.start.After(cur.end):
			total += cur.end.Sub(cur.start)
			cur = x
		case x.end.After(cur.end):
			cur.end = x.end
		}
	}
	if len(s) > 0 {
		total += cur.end.Sub(cur.start)
	}
	return total
}
