package reward

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// A Worker runs functions on one goroutine locked to its OS thread, one at a time, in the order
// they were queued: libtorch keeps its error slot, grad mode and CUDA state per thread, so a
// libtorch model is built, used and freed from one thread. The zero value is not usable; start
// one with NewWorker.
type Worker struct {
	jobs chan func()
	done chan struct{}
	once sync.Once
}

// NewWorker starts a worker's thread.
func NewWorker() *Worker {
	w := &Worker{jobs: make(chan func()), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(w.done)
		for f := range w.jobs {
			f()
		}
	}()
	return w
}

// Do runs f on the worker's thread and returns when it has run. A panic in f is returned as an
// error (the worker goes on).
func (w *Worker) Do(f func() error) (err error) {
	ran := make(chan struct{})
	w.jobs <- func() {
		defer close(ran)
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		err = f()
	}
	<-ran
	return err
}

// Close ends the worker's thread once the queued functions have run. Do must not be called after.
func (w *Worker) Close() {
	w.once.Do(func() { close(w.jobs) })
	<-w.done
}

// Workers serves a Scorer from n workers, each owning its own instance, built by open on the
// worker's thread (a Hugging Face encoder's weights live there): a request waits for a free
// worker, so at most n requests are computed at once and the others queue. It is safe for
// concurrent use and is itself a Scorer.
type Workers struct {
	idle    chan int // indices of the free workers
	workers []*Worker
	scorers []Scorer
	names   []string
}

// NewWorkers starts n workers and builds each one's Scorer with open. All must name the same
// embedders. Close frees them.
func NewWorkers(n int, open func() (Scorer, error)) (*Workers, error) {
	if n < 1 {
		return nil, fmt.Errorf("reward: %d workers: give at least 1", n)
	}
	p := &Workers{idle: make(chan int, n)}
	for i := range n {
		w := NewWorker()
		var s Scorer
		err := w.Do(func() (err error) { s, err = open(); return err })
		if err == nil && s == nil {
			err = errors.New("no scorer")
		}
		if err != nil {
			w.Close()
			p.Close()
			return nil, fmt.Errorf("reward: worker %d: %w", i, err)
		}
		p.workers, p.scorers = append(p.workers, w), append(p.scorers, s)
		if i == 0 {
			p.names = s.Embedders()
		} else if fmt.Sprint(s.Embedders()) != fmt.Sprint(p.names) {
			p.Close()
			return nil, fmt.Errorf("reward: worker %d has embedders %v, worker 0 %v", i, s.Embedders(), p.names)
		}
		p.idle <- i
	}
	return p, nil
}

// Embedders names the embedders of the workers' scorers.
func (p *Workers) Embedders() []string { return append([]string(nil), p.names...) }

// Rewards computes the request on the first free worker's thread.
func (p *Workers) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) (rewards []float64, parts [][]float64, err error) {
	i := <-p.idle
	defer func() { p.idle <- i }()
	err = p.workers[i].Do(func() (err error) {
		rewards, parts, err = p.scorers[i].Rewards(src, G, captions, keys)
		return err
	})
	return rewards, parts, err
}

// Close frees each worker's scorer (when it has a Close method) on its thread and ends the
// workers. No request may be in flight.
func (p *Workers) Close() {
	for i, w := range p.workers {
		if c, ok := p.scorers[i].(interface{ Close() }); ok {
			_ = w.Do(func() error { c.Close(); return nil })
		}
		w.Close()
	}
	p.workers, p.scorers = nil, nil
}
