package collective

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkAllReduce measures the ring's all-reduce bus bandwidth with two
// ranks in this process (goroutines connected over loopback sockets), as
// nccl-tests defines it: busbw = bytes/time * 2(n-1)/n.
func BenchmarkAllReduce(b *testing.B) {
	const n = 2
	for _, transport := range []Transport{TransportAuto, TransportTCP} {
		rings := world(b, n, func(o *Options) { o.Transport = transport })
		for size := 64 << 10; size <= 64<<20; size *= 4 {
			b.Run(fmt.Sprintf("%s/%s", transport, byteSize(size)), func(b *testing.B) {
				bufs := make([]Host, n)
				for r := range bufs {
					bufs[r] = make(Host, size/4)
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				var wg sync.WaitGroup
				for r := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range b.N {
							if err := rings[r].AllReduce(context.Background(), bufs[r], Sum); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(size)/sec/1e9*2*(n-1)/n, "busGB/s")
			})
		}
	}
}

// byteSize formats a power-of-two size as 64KB, 1MB and so on.
func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkBarrier measures the latency of a barrier between two ranks in
// this process.
func BenchmarkBarrier(b *testing.B) {
	for _, transport := range []Transport{TransportAuto, TransportTCP} {
		b.Run(string(transport), func(b *testing.B) {
			rings := world(b, 2, func(o *Options) { o.Transport = transport })
			b.ResetTimer()
			each(rings, func(rg *Ring) error {
				for range b.N {
					if err := rg.Barrier(context.Background()); err != nil {
						b.Error(err)
						return err
					}
				}
				return nil
			})
		})
	}
}
