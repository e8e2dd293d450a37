package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is the BPE model: a vocabulary and ranked merges, applied to one pre-token at a time.
type bpe struct {
	vocab        map[string]int32
	merges       map[uint64]mergeRule // (left id, right id) -> rule
	unk          int32                // id of unk_token, -1 when there is none
	fuseUnk      bool
	ignoreMerges bool // a pre-token that is itself in the vocabulary is one token

	mu    sync.RWMutex
	cache map[string][]int32
}

// mergeRule is what merging a pair gives: its rank (position in the merges list, lower first)
// and the id of the merged token.
type mergeRule struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

const (
	cacheMaxWord    = 256     // longer pre-tokens are not cached (Hugging Face's limit too)
	cacheMaxEntries = 1 << 17 // the cache stops growing there
)

// encode appends the ids of the pre-token w.
func (m *bpe) encode(w string, dst []int) []int {
	if w == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(dst, int(id))
		}
	}
	if len(w) < cacheMaxWord {
		m.mu.RLock()
		ids, ok := m.cache[w]
		m.mu.RUnlock()
		if ok {
			for _, id := range ids {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	ids := m.mergeWord(w)
	if len(w) < cacheMaxWord {
		m.mu.Lock()
		if len(m.cache) < cacheMaxEntries {
			m.cache[strings.Clone(w)] = ids // a copy: w may be a slice of a large text
		}
		m.mu.Unlock()
	}
	for _, id := range ids {
		dst = append(dst, int(id))
	}
	return dst
}

// symbol is one token of a word being merged, in a doubly linked list over the array.
type symbol struct {
	id         int32
	prev, next int32 // indices, -1 at the ends
	size       int32 // bytes of w it covers; 0 once merged into its left neighbour
}

// mergeWord splits w into runes and merges them, lowest rank first and leftmost first among
// equal ranks, with a priority queue: the algorithm of Hugging Face's BPE (Word::merge_all).
func (m *bpe) mergeWord(w string) []int32 {
	syms := make([]symbol, 0, len(w))
	add := func(id int32, size int) {
		syms = append(syms, symbol{id: id, prev: int32(len(syms)) - 1, next: -1, size: int32(size)})
		if n := len(syms); n > 1 {
			syms[n-2].next = int32(n - 1)
		}
	}
	unkSize := 0 // bytes of a pending unknown run
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		if id, ok := m.vocab[w[i:i+size]]; ok {
			if unkSize > 0 {
				add(m.unk, unkSize)
				unkSize = 0
			}
			add(id, size)
		} else if m.unk >= 0 {
			if unkSize > 0 && !m.fuseUnk {
				add(m.unk, unkSize)
				unkSize = 0
			}
			unkSize += size
		} // without an unk token, a rune outside the vocabulary is dropped, as Hugging Face does
		i += size
	}
	if unkSize > 0 {
		add(m.unk, unkSize)
	}

	var q mergeQueue
	for i := 0; i+1 < len(syms); i++ {
		if r, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q = append(q, queued{rank: r.rank, pos: int32(i), id: r.id})
		}
	}
	q.init()
	for len(q) > 0 {
		top := q.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		right := syms[cur.next]
		// the entry is stale unless the pair there still merges into the same token
		if r, ok := m.merges[pairKey(cur.id, right.id)]; !ok || r.id != top.id {
			continue
		}
		syms[cur.next].size = 0
		cur.id, cur.size, cur.next = top.id, cur.size+right.size, right.next
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if r, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				q.push(queued{rank: r.rank, pos: cur.prev, id: r.id})
			}
		}
		if cur.next >= 0 {
			if r, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				q.push(queued{rank: r.rank, pos: top.pos, id: r.id})
			}
		}
	}

	ids := make([]int32, 0, len(syms))
	for _, s := range syms {
		if s.size > 0 {
			ids = append(ids, s.id)
		}
	}
	return ids
}

// queued is a candidate merge of the symbol at pos with its right neighbour.
type queued struct{ rank, pos, id int32 }

func (a queued) less(b queued) bool { return a.rank < b.rank || a.rank == b.rank && a.pos < b.pos }

// mergeQueue is a binary min-heap of candidate merges ordered by (rank, pos).
type mergeQueue []queued

func (q mergeQueue) init() {
	for i := len(q)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

func (q *mergeQueue) push(x queued) {
	*q = append(*q, x)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *mergeQueue) pop() queued {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	*q = h[:last]
	q.down(0)
	return top
}

func (q mergeQueue) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q) {
			return
		}
		m := l
		if r := l + 1; r < len(q) && q[r].less(q[l]) {
			m = r
		}
		if !q[m].less(q[i]) {
			return
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
}
