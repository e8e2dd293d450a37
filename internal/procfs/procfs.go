// Package procfs reads what Linux's /proc says of a process's memory: the one reader that the
// device monitor and the memory tests share.
package procfs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSS returns the resident set size, in bytes, from a /proc/<pid>/status file (its VmRSS line).
func RSS(statusPath string) (int64, error) { return statusKB(statusPath, "VmRSS") }

// PeakRSS returns the peak resident set size ("high water mark"), in bytes, from a
// /proc/<pid>/status file (its VmHWM line).
func PeakRSS(statusPath string) (int64, error) { return statusKB(statusPath, "VmHWM") }

// statusKB reads the line "field: N kB" of a status file, in bytes.
func statusKB(statusPath, field string) (int64, error) {
	f, err := os.Open(statusPath)
	if err != nil {
		return 0, fmt.Errorf("procfs: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, fmt.Errorf("procfs: %s: unexpected %s line %q", statusPath, field, sc.Text())
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procfs: %s: %s: %w", statusPath, field, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("procfs: %s: %w", statusPath, err)
	}
	return 0, fmt.Errorf("procfs: %s: no %s line", statusPath, field)
}

// SelfRSS returns this process's resident set size in bytes.
func SelfRSS() (int64, error) { return RSS("/proc/self/status") }

// SelfPeakRSS returns this process's peak resident set size in bytes.
func SelfPeakRSS() (int64, error) { return PeakRSS("/proc/self/status") }
