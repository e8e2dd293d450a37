package monitor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Source says what a sampler reads.
type Source string

// Sources.
const (
	SourceNVML Source = "nvml"
	SourceCPU  Source = "cpu"
)

// Options configure Start.
type Options struct {
	// Interval between readings; zero means DefaultInterval.
	Interval time.Duration
	// Devices lists the CUDA ordinals the rank uses (for example its
	// LOCAL_RANK); empty means every GPU visible to the process.
	Devices []int
	// VisibleDevices is the value of CUDA_VISIBLE_DEVICES, used to map
	// CUDA ordinals to NVML devices (entries may be indices or GPU- UUIDs);
	// empty means unset. CUDA orders GPUs by PCI bus only when
	// CUDA_DEVICE_ORDER=PCI_BUS_ID, as NVML does; set it on multi-GPU
	// hosts with mixed GPU models.
	VisibleDevices string
	// NVML is the library to use; nil means the real one (nvml.New()).
	NVML NVML
	// NoGPU skips NVML and samples the process's CPU use directly.
	NoGPU bool
	// ProcDir is where the fallback reads stat and status; empty means
	// "/proc/self".
	ProcDir string
	// MaxSamples bounds the samples held between Drain calls (the oldest
	// are dropped); zero means DefaultMaxSamples.
	MaxSamples int
}

// Defaults of Options.
const (
	DefaultInterval   = time.Second
	DefaultMaxSamples = 100_000
)

// source is a set of devices that can be read.
type source interface {
	read(now time.Time, elapsed time.Duration) []Sample
	close()
}

// Sampler reads its devices every Interval in a goroutine until Stop or
// until the context given to Start is done.
type Sampler struct {
	src    source
	kind   Source
	notice string
	start  time.Time
	max    int
	warn   *warnings

	mu      sync.Mutex // guards samples, dropped and reads of src
	samples []Sample
	dropped int

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// Start opens the devices and starts sampling. When NVML cannot be
// initialised, or reports no GPU, it falls back to the process's CPU and
// memory and says why in Notice; it returns an error only for bad options
// (a GPU that is not there) or when the fallback cannot read /proc either.
func Start(ctx context.Context, opts Options) (*Sampler, error) {
	if opts.Interval < 0 {
		return nil, fmt.Errorf("monitor: negative sampling interval %v", opts.Interval)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxSamples < 0 {
		return nil, fmt.Errorf("monitor: negative MaxSamples %d", opts.MaxSamples)
	}
	if opts.MaxSamples == 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	if opts.ProcDir == "" {
		opts.ProcDir = "/proc/self"
	}
	s := &Sampler{
		start: time.Now(),
		max:   opts.MaxSamples,
		warn:  &warnings{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	src, notice, err := openGPUs(opts, s.warn)
	if err != nil {
		return nil, err
	}
	if src != nil {
		s.src, s.kind = src, SourceNVML
	} else {
		ps, err := newProcSource(opts.ProcDir, s.start, s.warn)
		if err != nil {
			return nil, fmt.Errorf("monitor: no GPU metrics (%s) and no process metrics: %w", notice, err)
		}
		s.src, s.kind = ps, SourceCPU
		s.notice = "monitor: " + notice + "; sampling this process's CPU use and resident memory instead"
	}
	go s.loop(ctx, opts.Interval)
	return s, nil
}

// openGPUs initialises NVML and resolves the devices. It returns a nil
// source and a reason when the sampler should fall back to the CPU.
func openGPUs(opts Options, warn *warnings) (source, string, error) {
	if opts.NoGPU {
		return nil, "GPU monitoring disabled", nil
	}
	lib := opts.NVML
	if lib == nil {
		lib = nvml.New()
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return nil, "NVML library (libnvidia-ml.so.1) not found, no GPU metrics", nil
		}
		return nil, fmt.Sprintf("NVML init failed (%v), no GPU metrics", ret), nil
	}
	count, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS || count == 0 {
		lib.Shutdown()
		if ret != nvml.SUCCESS {
			return nil, fmt.Sprintf("NVML device count failed (%v), no GPU metrics", ret), nil
		}
		return nil, "NVML reports no GPU", nil
	}
	gpus, err := resolveGPUs(lib, opts.Devices, opts.VisibleDevices)
	if err != nil {
		lib.Shutdown()
		return nil, "", err
	}
	return &gpuSource{lib: lib, gpus: gpus, warn: warn}, "", nil
}

func (s *Sampler) loop(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case now := <-t.C:
			s.collect(now)
		}
	}
}

// collect takes one reading and stores it.
func (s *Sampler) collect(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.src.read(now, now.Sub(s.start))
	s.samples = append(s.samples, got...)
	if over := len(s.samples) - s.max; over > 0 {
		s.samples = append(s.samples[:0], s.samples[over:]...)
		s.dropped += over
	}
}

// Drain returns the samples taken since the previous Drain, oldest first,
// and forgets them.
func (s *Sampler) Drain() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.samples
	s.samples = nil
	return out
}

// Read takes one reading now, outside the schedule, and returns it
// without storing it. For the CPU fallback the CPU use covers the time
// since the previous reading.
func (s *Sampler) Read() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	return s.src.read(now, now.Sub(s.start))
}

// Stop ends sampling and releases NVML. It may be called more than once.
// Samples not drained yet stay available to Drain.
func (s *Sampler) Stop() {
	s.stopOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.src.close()
		s.mu.Unlock()
	})
}

// Source says whether the sampler reads GPUs through NVML or the process's
// CPU use.
func (s *Sampler) Source() Source { return s.kind }

// Notice is the one message to log when the sampler fell back to the CPU,
// or "" when it reads GPUs.
func (s *Sampler) Notice() string { return s.notice }

// Warnings lists, once each, the readings that failed so far (for example
// "gpu3 power: ERROR_NOT_SUPPORTED"); those fields are NaN in the samples.
func (s *Sampler) Warnings() []string { return s.warn.list() }

// Dropped is the number of samples discarded because MaxSamples were
// already waiting to be drained.
func (s *Sampler) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// warnings collects distinct messages.
type warnings struct {
	mu   sync.Mutex
	seen map[string]bool
	msgs []string
}

func (w *warnings) add(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = make(map[string]bool)
	}
	if !w.seen[msg] {
		w.seen[msg] = true
		w.msgs = append(w.msgs, msg)
	}
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
