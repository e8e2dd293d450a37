package collective

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// errStoreClosed is returned by waits interrupted by the store's shutdown.
var errStoreClosed = errors.New("the store was closed")

// MissingKeysError reports the keys a Wait or Get was still waiting for when
// its deadline passed.
type MissingKeysError struct {
	// Keys are the missing keys, sorted.
	Keys []string
	// Err is the reason the wait ended, usually context.DeadlineExceeded.
	Err error
}

// Error lists the missing keys.
func (e *MissingKeysError) Error() string {
	return fmt.Sprintf("keys still missing: %s: %v", strings.Join(e.Keys, ", "), e.Err)
}

// Unwrap returns the reason the wait ended.
func (e *MissingKeysError) Unwrap() error { return e.Err }

// table is the in-memory key-value map behind a store. Writers close and
// replace changed so that waiters wake up and re-check their keys.
type table struct {
	mu      sync.Mutex
	data    map[string][]byte
	changed chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func newTable() *table {
	return &table{
		data:    make(map[string][]byte),
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

// notifyLocked wakes every waiter. t.mu must be held.
func (t *table) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *table) set(key string, value []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.data[key] = slices.Clone(value)
	t.notifyLocked()
}

// add adds delta to the decimal integer stored at key (0 when absent) and
// returns the new value.
func (t *table) add(key string, delta int64) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur int64
	if old, ok := t.data[key]; ok {
		v, err := strconv.ParseInt(string(old), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("add to key %q: its value is not a decimal integer", key)
		}
		cur = v
	}
	cur += delta
	t.data[key] = []byte(strconv.FormatInt(cur, 10))
	t.notifyLocked()
	return cur, nil
}

// wait blocks until every key is present, ctx ends or the table closes.
func (t *table) wait(ctx context.Context, keys []string) error {
	for {
		t.mu.Lock()
		var missing []string
		for _, k := range keys {
			if _, ok := t.data[k]; !ok {
				missing = append(missing, k)
			}
		}
		changed := t.changed
		t.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-t.closed:
			return errStoreClosed
		case <-ctx.Done():
			slices.Sort(missing)
			return &MissingKeysError{Keys: slices.Compact(missing), Err: ctx.Err()}
		}
	}
}

// get waits for key and returns a copy of its value.
func (t *table) get(ctx context.Context, key string) ([]byte, error) {
	if err := t.wait(ctx, []string{key}); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.data[key]), nil
}

// close wakes all waiters with errStoreClosed.
func (t *table) close() {
	t.once.Do(func() { close(t.closed) })
}
