package nccl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/collective"
)

// mapKV is a minimal in-memory KV whose Get waits for the key.
type mapKV struct {
	mu   sync.Mutex
	cond *sync.Cond
	m    map[string][]byte
}

func newMapKV() *mapKV {
	kv := &mapKV{m: make(map[string][]byte)}
	kv.cond = sync.NewCond(&kv.mu)
	return kv
}

func (kv *mapKV) Set(ctx context.Context, key string, v []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.m[key] = append([]byte(nil), v...)
	kv.cond.Broadcast()
	return nil
}

func (kv *mapKV) Get(ctx context.Context, key string) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() {
		kv.mu.Lock()
		kv.cond.Broadcast()
		kv.mu.Unlock()
	})
	defer stop()
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for {
		if v, ok := kv.m[key]; ok {
			return v, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		kv.cond.Wait()
	}
}

func exchangeAll(t *testing.T, stores []KV, ranks int) []UniqueID {
	t.Helper()
	var created atomic.Int32
	create := func() (UniqueID, error) {
		created.Add(1)
		var id UniqueID
		for i := range id {
			id[i] = byte(i*7 + 3)
		}
		return id, nil
	}
	ids := make([]UniqueID, ranks)
	errs := make([]error, ranks)
	var wg sync.WaitGroup
	// Start the other ranks first: they must wait for rank 0.
	for r := ranks - 1; r >= 0; r-- {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ids[r], errs[r] = ExchangeID(ctx, stores[r], "test/id", r, create)
		})
		if r == ranks-1 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if created.Load() != 1 {
		t.Errorf("id created %d times, want once (by rank 0)", created.Load())
	}
	want, _ := create()
	for r, id := range ids {
		if !bytes.Equal(id[:], want[:]) {
			t.Errorf("rank %d got a different id", r)
		}
	}
	return ids
}

func TestExchangeIDFakeStore(t *testing.T) {
	kv := newMapKV()
	exchangeAll(t, []KV{kv, kv, kv, kv}, 4)
}

func TestExchangeIDCollectiveStore(t *testing.T) {
	host, err := collective.HostStore("127.0.0.1:0", "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	stores := []KV{host}
	for range 3 {
		s, err := collective.DialStore(context.Background(), host.Addr(), "tok")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	exchangeAll(t, stores, 4)
}

func TestExchangeIDErrors(t *testing.T) {
	ctx := context.Background()
	kv := newMapKV()
	kv.Set(ctx, "short", []byte("abc"))
	if _, err := ExchangeID(ctx, kv, "short", 1, nil); err == nil || !strings.Contains(err.Error(), "has 3 bytes, want 128") {
		t.Errorf("short id: %v", err)
	}
	boom := errors.New("no network")
	if _, err := ExchangeID(ctx, kv, "k", 0, func() (UniqueID, error) { return UniqueID{}, boom }); !errors.Is(err, boom) {
		t.Errorf("create error: %v", err)
	}
	if _, err := ExchangeID(ctx, nil, "k", 0, nil); err == nil || !strings.Contains(err.Error(), "no rendezvous store") {
		t.Errorf("nil store: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := ExchangeID(tctx, kv, "never-set", 2, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did rank 0 start?") {
		t.Errorf("missing id: %v", err)
	}
}
