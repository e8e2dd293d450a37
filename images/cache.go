package images

import "container/list"

// DefaultCacheBytes bounds the fitted images a Folder keeps: 256 MiB holds about 1700 images
// of 224 x 224 pixels, so a folder of that size is decoded once per run, not once per step.
const DefaultCacheBytes = 256 << 20

// fitCache keeps fitted images by path, dropping the least recently used past a byte budget.
type fitCache struct {
	budget, used int
	order        *list.List // front: most recently used; values are *cached
	at           map[string]*list.Element
}

type cached struct {
	path string
	sq   Square
}

func newFitCache(budget int) *fitCache {
	return &fitCache{budget: budget, order: list.New(), at: map[string]*list.Element{}}
}

func (c *fitCache) get(path string) (Square, bool) {
	e, ok := c.at[path]
	if !ok {
		return Square{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cached).sq, true
}

// put keeps sq unless it alone is over the budget. The caller must not change sq.RGB afterwards.
func (c *fitCache) put(path string, sq Square) {
	n := len(sq.RGB)
	if n > c.budget {
		return
	}
	if e, ok := c.at[path]; ok {
		c.used -= len(e.Value.(*cached).sq.RGB)
		c.order.Remove(e)
		delete(c.at, path)
	}
	for c.used+n > c.budget {
		last := c.order.Back()
		old := last.Value.(*cached)
		c.used -= len(old.sq.RGB)
		c.order.Remove(last)
		delete(c.at, old.path)
	}
	c.at[path] = c.order.PushFront(&cached{path: path, sq: sq})
	c.used += n
}
