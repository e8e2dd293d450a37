package collective

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// world connects n goroutine ranks on loopback and closes them at the end
// of the test. tweak, if not nil, adjusts every rank's options.
func world(t testing.TB, n int, tweak func(*Options)) []*Ring {
	t.Helper()
	port := freePort(t)
	rings := make([]*Ring, n)
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := Options{Rank: r, Size: n, MasterAddr: "127.0.0.1", MasterPort: port, Token: "secret", Timeout: 20 * time.Second}
			if tweak != nil {
				tweak(&o)
			}
			rings[r], stores[r], errs[r] = Connect(context.Background(), o)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: Connect: %v", r, err)
		}
	}
	t.Cleanup(func() {
		for r := n - 1; r >= 0; r-- {
			rings[r].Close()
			stores[r].Close()
		}
	})
	return rings
}

// each runs f on every rank concurrently and returns the errors by rank.
func each(rings []*Ring, f func(r *Ring) error) []error {
	errs := make([]error, len(rings))
	var wg sync.WaitGroup
	for i, r := range rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(r)
		}()
	}
	wg.Wait()
	return errs
}

// mustAll fails the test if any rank returned an error.
func mustAll(t testing.TB, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
