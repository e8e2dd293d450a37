package reward

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// A Pool is a reward whose decoder may read the captions' hidden states.
var _ HiddenReward = (*Pool)(nil)

// Pool is a reward computed by several services that serve the same reward (one decoder each, say
// on its own GPU). Each call is cut into pieces of whole groups, one per live member, and each
// piece goes to the member with the least outstanding work (captions sent and not yet answered,
// over all calls in flight; among equals, the one given a piece least recently), so that calls
// made while others run (the overlap of the reward with the rollout) go to the members that are
// free, and calls of one piece each take turns. A member that cannot be reached or does not answer
// within its deadline is dropped with a warning and its pieces go to the others; the call fails
// only when no member is left, or when a member answers with an error (another would answer the
// same). A reward depends only on its caption, key and source, so the pool's rewards are the ones
// a single service gives, bit for bit. It is safe for concurrent use.
type Pool struct {
	members   []*member
	embedders []string
	logf      func(format string, args ...any)

	mu     sync.Mutex // guards the members' state and pieces
	pieces uint64     // pieces given out so far
}

// member is one service of a pool and what the pool knows of it.
type member struct {
	c *Client
	// Guarded by Pool.mu:
	live        bool
	outstanding int           // captions sent and not yet answered
	taken       uint64        // when it was last given a piece (the pool's count of pieces)
	inFlight    int           // requests sent and not yet answered
	busySince   time.Time     // when inFlight last rose from 0
	images      int           // captions answered since the last Stats
	busy        time.Duration // time with a request in flight since the last Stats
}

// MemberStats is what one member of a pool did since the previous Stats call.
type MemberStats struct {
	URL    string
	Live   bool          // not dropped
	Images int           // images regenerated (captions answered)
	Busy   time.Duration // time with at least one request in flight
}

// ImagesPerS is the member's throughput while busy (0 when it was idle).
func (s MemberStats) ImagesPerS() float64 {
	if s.Busy <= 0 {
		return 0
	}
	return float64(s.Images) / s.Busy.Seconds()
}

// StatsReporter is a reward that reports what each of its services did (a Pool).
type StatsReporter interface {
	// Stats returns each member's work since the previous call, in the order the members were given.
	Stats() []MemberStats
}

// DialPool dials every service of urls (see Dial) and checks that they serve the same embedders.
// logf receives the warnings of dropped members (nil: standard error is not written; pass a
// logger). A member that cannot be dialled is an error: a misspelt address should stop the run
// before it starts.
func DialPool(urls []string, opt ClientOptions, logf func(format string, args ...any)) (*Pool, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("reward pool: no service address given")
	}
	p := &Pool{logf: logf}
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u] {
			return nil, fmt.Errorf("--reward-url %s is given twice", u)
		}
		seen[u] = true
		c, err := Dial(u, opt)
		if err != nil {
			return nil, err
		}
		if p.embedders == nil {
			p.embedders = c.Embedders()
		} else if strings.Join(c.info.Embedders, "\x00") != strings.Join(p.embedders, "\x00") {
			return nil, fmt.Errorf("reward service %s serves embedders %v but %s serves %v: every service of a pool must serve the same reward",
				u, c.info.Embedders, urls[0], p.embedders)
		}
		p.members = append(p.members, &member{c: c, live: true})
	}
	return p, nil
}

// Embedders names the services' embedders.
func (p *Pool) Embedders() []string { return append([]string(nil), p.embedders...) }

// Size is the number of members, live or dropped.
func (p *Pool) Size() int { return len(p.members) }

// Live is the number of members not dropped.
func (p *Pool) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.members {
		if m.live {
			n++
		}
	}
	return n
}

// Rewards asks the pool for the rewards of N = B*G captions (see Reward).
func (p *Pool) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	return p.RewardsWithHidden(src, G, captions, nil, keys)
}

// piece is the images [lo, hi) of a call, the unit a member answers.
type piece struct{ lo, hi int }

// RewardsWithHidden is Rewards with each caption's last hidden state (see Client.RewardsWithHidden).
func (p *Pool) RewardsWithHidden(src []images.Planar, G int, captions []string, hidden [][]float32, keys []stream.Key) ([]float64, [][]float64, error) {
	if G < 1 || len(captions) != len(src)*G || len(keys) != len(captions) || (hidden != nil && len(hidden) != len(captions)) {
		return nil, nil, fmt.Errorf("reward pool: %d images x G=%d but %d captions, %d keys and %d hidden states", len(src), G, len(captions), len(keys), len(hidden))
	}
	N := len(captions)
	rewards, parts := make([]float64, N), make([][]float64, N)
	type answer struct {
		pc  piece
		m   *member
		err error
	}
	answers := make(chan answer)
	send := func(pc piece, m *member) {
		lo, hi := pc.lo*G, pc.hi*G
		var h [][]float32
		if hidden != nil {
			h = hidden[lo:hi]
		}
		r, pt, err := m.c.RewardsWithHidden(src[pc.lo:pc.hi], G, captions[lo:hi], h, keys[lo:hi])
		if err == nil {
			copy(rewards[lo:hi], r)
			copy(parts[lo:hi], pt)
		}
		answers <- answer{pc, m, err}
	}
	pending := 0
	var fail error
	for _, pc := range p.cut(len(src)) {
		m, err := p.take((pc.hi - pc.lo) * G)
		if err != nil {
			fail = err // wait below for the pieces already sent
			break
		}
		pending++
		go send(pc, m)
	}
	for ; pending > 0; pending-- {
		a := <-answers
		n := (a.pc.hi - a.pc.lo) * G
		p.done(a.m, n, a.err == nil)
		switch {
		case a.err == nil || fail != nil:
			continue
		case !IsTransport(a.err):
			fail = a.err
			continue
		}
		// The member is gone: drop it and send its piece to another.
		p.drop(a.m, a.err)
		m, err := p.take(n)
		if err != nil {
			fail = fmt.Errorf("%w; the last failure: %v", err, a.err)
			continue
		}
		pending++
		go send(a.pc, m)
	}
	if fail != nil {
		return nil, nil, fail
	}
	return rewards, parts, nil
}

// cut splits B images into one piece of whole groups per live member (fewer when B is smaller).
func (p *Pool) cut(B int) []piece {
	k := max(1, min(B, p.Live()))
	out := make([]piece, 0, k)
	for i := 0; i < k; i++ {
		lo, hi := i*B/k, (i+1)*B/k
		if hi > lo {
			out = append(out, piece{lo, hi})
		}
	}
	return out
}

// take picks the live member with the least outstanding work for n captions (of those, the one
// given a piece least recently, so that calls of one piece take turns) and counts them on it; it
// fails when no member is left.
func (p *Pool) take(n int) (*member, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *member
	for _, m := range p.members {
		if m.live && (best == nil || m.outstanding < best.outstanding || (m.outstanding == best.outstanding && m.taken < best.taken)) {
			best = m
		}
	}
	if best == nil {
		urls := make([]string, len(p.members))
		for i, m := range p.members {
			urls[i] = m.c.url
		}
		return nil, errors.New("reward pool: no reward service is left (every one of " + strings.Join(urls, ", ") + " failed): restart them, or check --reward-timeout")
	}
	p.pieces++
	best.outstanding += n
	best.taken = p.pieces
	if best.inFlight == 0 {
		best.busySince = time.Now()
	}
	best.inFlight++
	return best, nil
}

// done counts an answer (or failure) of n captions from m.
func (p *Pool) done(m *member, n int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.outstanding -= n
	m.inFlight--
	if m.inFlight == 0 {
		m.busy += time.Since(m.busySince)
	}
	if ok {
		m.images += n
	}
}

// drop marks m dead (once, with a warning).
func (p *Pool) drop(m *member, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	left := 0
	for _, o := range p.members {
		if o.live && o != m {
			left++
		}
	}
	if m.live {
		m.live = false
		if p.logf != nil {
			p.logf("reward pool: dropping reward service %s (%d of %d left); its requests go to the others: %v", m.c.url, left, len(p.members), err)
		}
	}
}

// Stats returns each member's work since the previous call.
func (p *Pool) Stats() []MemberStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := make([]MemberStats, len(p.members))
	for i, m := range p.members {
		busy := m.busy
		if m.inFlight > 0 {
			busy += now.Sub(m.busySince)
			m.busySince = now
		}
		out[i] = MemberStats{URL: m.c.url, Live: m.live, Images: m.images, Busy: busy}
		m.images, m.busy = 0, 0
	}
	return out
}

// Remote is a reward computed in other processes (a service or a pool of them): calls to it cost
// this process nothing but waiting, so the trainer overlaps the reward of one rollout chunk with
// the rollout of the next. Its calls must be safe for concurrent use.
type Remote interface {
	Reward
	// Remote says that the reward is computed elsewhere.
	Remote()
}

// Remote says that the pool's reward is computed by its services.
func (p *Pool) Remote() {}
