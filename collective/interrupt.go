package collective

import (
	"context"
	"net"
	"sync"
	"time"
)

// interruptOnCancel makes blocked I/O on conns return as soon as ctx is
// cancelled, by moving their deadlines into the past. The returned stop
// function disarms it and, if it already fired, waits until it is done, so
// that it cannot disturb a later use of the connections.
func interruptOnCancel(ctx context.Context, conns ...net.Conn) (stop func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	disarm := context.AfterFunc(ctx, func() {
		defer wg.Done()
		for _, c := range conns {
			c.SetDeadline(time.Unix(1, 0))
		}
	})
	return func() {
		if disarm() {
			wg.Done()
		}
		wg.Wait()
	}
}
