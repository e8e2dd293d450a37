package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/unigrpo/unigrpo/internal/procfs"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux exports
// them in USER_HZ, which is 100 on every mainstream architecture.
const userHZ = 100

// procSource samples the process's CPU use and resident memory.
type procSource struct {
	dir       string // "/proc/self" or a test directory
	lastTicks uint64
	lastTime  time.Time
	warn      *warnings
}

func newProcSource(dir string, now time.Time, warn *warnings) (*procSource, error) {
	ticks, err := cpuTicks(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	if _, err := rssMiB(filepath.Join(dir, "status")); err != nil {
		return nil, err
	}
	return &procSource{dir: dir, lastTicks: ticks, lastTime: now, warn: warn}, nil
}

// read returns the CPU use since the previous reading and the current
// resident memory.
func (p *procSource) read(now time.Time, elapsed time.Duration) []Sample {
	s := nanSample(now, elapsed, "cpu", "process")
	if ticks, err := cpuTicks(filepath.Join(p.dir, "stat")); err != nil {
		p.warn.add(err.Error())
	} else {
		if dt := now.Sub(p.lastTime).Seconds(); dt > 0 && ticks >= p.lastTicks {
			s.Util = 100 * float64(ticks-p.lastTicks) / userHZ / dt
		}
		p.lastTicks, p.lastTime = ticks, now
	}
	if rss, err := rssMiB(filepath.Join(p.dir, "status")); err != nil {
		p.warn.add(err.Error())
	} else {
		s.MemUsedMiB = rss
	}
	return []Sample{s}
}

func (p *procSource) close() {}

// cpuTicks returns utime+stime (fields 14 and 15) of a /proc/<pid>/stat
// file. The command name (field 2) may hold spaces and parentheses, so
// fields are counted after its last ')'.
func cpuTicks(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("monitor: %w", err)
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("monitor: %s: no command name", path)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("monitor: %s: %d fields after the command name, want at least 13", path, len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("monitor: %s: cpu times: %w", path, err)
	}
	return u + s, nil
}

// rssMiB returns VmRSS from a /proc/<pid>/status file, in MiB.
func rssMiB(path string) (float64, error) {
	b, err := procfs.RSS(path)
	if err != nil {
		return 0, fmt.Errorf("monitor: %w", err)
	}
	return float64(b) / (1 << 20), nil
}
