package procfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RSS and PeakRSS read their lines of a status file in bytes, and a file without the line is an
// error naming it. Oracle: hand-written status files.
func TestStatusFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	status := "Name:\ttrainer\nVmPeak:\t  900000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\n"
	if err := os.WriteFile(path, []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := RSS(path); err != nil || b != 256<<20 {
		t.Errorf("RSS %d (%v), want %d", b, err, 256<<20)
	}
	if b, err := PeakRSS(path); err != nil || b != 512<<20 {
		t.Errorf("PeakRSS %d (%v), want %d", b, err, 512<<20)
	}
	if err := os.WriteFile(path, []byte("Name:\tx\nVmRSS:\t1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PeakRSS(path); err == nil || !strings.Contains(err.Error(), "no VmHWM line") {
		t.Errorf("a status without VmHWM: %v", err)
	}
}
