package collective

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMissingRankFailsAtDeadline(t *testing.T) {
	const n = 4
	port := freePort(t)
	errs := make([]error, n-1)
	var wg sync.WaitGroup
	start := time.Now()
	for r := range n - 1 { // rank 3 never starts
		wg.Add(1)
		go func() {
			defer wg.Done()
			ring, store, err := Connect(context.Background(), Options{
				Rank: r, Size: n, MasterAddr: "127.0.0.1", MasterPort: port, Token: "t", Timeout: time.Second,
			})
			if err == nil {
				ring.Close()
				store.Close()
			}
			errs[r] = err
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for r, err := range errs {
		if err == nil {
			t.Fatalf("rank %d: Connect succeeded without rank 3", r)
		}
		if r == 0 && !strings.Contains(err.Error(), "rank 3 of 4 did not join within 1s; check that every rank was started with the same MASTER_ADDR/MASTER_PORT") {
			t.Errorf("rank 0: unclear error: %v", err)
		}
	}
	if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("rendezvous gave up after %v, want about 1s", elapsed)
	}
}

func TestConnectWrongToken(t *testing.T) {
	port := freePort(t)
	done := make(chan error, 1)
	go func() {
		ring, store, err := Connect(context.Background(), Options{
			Rank: 0, Size: 2, MasterAddr: "127.0.0.1", MasterPort: port, Token: "right", Timeout: 3 * time.Second,
		})
		if err == nil {
			ring.Close()
			store.Close()
		}
		done <- err
	}()
	start := time.Now()
	_, _, err := Connect(context.Background(), Options{
		Rank: 1, Size: 2, MasterAddr: "127.0.0.1", MasterPort: port, Token: "wrong", Timeout: 3 * time.Second,
	})
	if !errors.Is(err, ErrBadToken) {
		t.Fatalf("got %v, want ErrBadToken", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v", d)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "rank 1 of 2 did not join") ||
		!strings.Contains(err.Error(), "refused 1 connection(s) with a wrong job token") {
		t.Errorf("rank 0: got %v, want rank 1 reported missing", err)
	}
}

func TestConnectValidates(t *testing.T) {
	for _, o := range []Options{
		{Rank: 0, Size: 0},
		{Rank: 2, Size: 2, MasterAddr: "127.0.0.1", MasterPort: 1},
		{Rank: 0, Size: 2, MasterPort: 1},
		{Rank: 0, Size: 2, MasterAddr: "127.0.0.1", MasterPort: 70000},
		{Rank: 0, Size: 2, MasterAddr: "127.0.0.1", MasterPort: 1, Transport: "carrier-pigeon"},
	} {
		if _, _, err := Connect(context.Background(), o); err == nil {
			t.Errorf("Connect(%+v) accepted bad options", o)
		}
	}
}

func TestStrayConnectionToRingListener(t *testing.T) {
	// A rank whose predecessor is slow must ignore whoever else knocks.
	ls, err := listen("127.0.0.1", TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.close()
	e := ls.endpoint("127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		c, err := acceptPrev(ctx, ls, "tok", 1, 3, 64)
		if err == nil {
			c.Close()
		}
		got <- err
	}()
	// A silent stranger, one with the wrong token, one claiming the wrong rank.
	stranger, err := dialPeer(ctx, e, TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := dialNext(ctx, e, Options{Size: 3, Token: "nope", Transport: TransportTCP}, 1, 64); !errors.Is(err, ErrBadToken) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := dialNext(ctx, e, Options{Size: 3, Token: "tok", Transport: TransportTCP}, 0, 64); err == nil || !strings.Contains(err.Error(), "expected rank 1") {
		t.Errorf("wrong rank: %v", err)
	}
	c, err := dialNext(ctx, e, Options{Size: 3, Token: "tok", Transport: TransportTCP}, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
