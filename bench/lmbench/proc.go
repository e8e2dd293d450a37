package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStatus reads a memory line of /proc/self/status (kB) in bytes; 0 when absent.
func procStatus(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// minorFaults is the process's minor page faults so far (fresh memory touched, mostly).
func minorFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Minflt
}

// resetPeak resets VmHWM to the current RSS (Linux 4.0+: "5" to /proc/self/clear_refs).
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
