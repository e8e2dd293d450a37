package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFile marks a run folder in use by a run: the pid and host of its rank 0.
const lockFile = "run.lock"

// runLock is what lockFile holds.
type runLock struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	Started string `json:"started"`
}

// lockRun takes dir for this process: it creates lockFile, refusing while another live process
// holds it, and replacing a lock whose process on this host is gone. It returns the release.
func lockRun(dir string) (func(), error) {
	host, _ := os.Hostname()
	me := runLock{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Format(time.RFC3339)}
	js, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFile)
	for try := 0; ; try++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(append(js, '\n'))
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, fmt.Errorf("run folder: writing %s: %w", path, werr)
			}
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) || try > 0 {
			return nil, fmt.Errorf("run folder: taking %s: %w", path, err)
		}
		var other runLock
		raw, rerr := os.ReadFile(path)
		if rerr == nil {
			rerr = json.Unmarshal(raw, &other)
		}
		if rerr != nil {
			return nil, fmt.Errorf("run folder %s: its %s is unreadable (%v); if no run uses the folder, delete the file", dir, lockFile, rerr)
		}
		if other.Host != host || alive(other.PID) {
			return nil, fmt.Errorf("run folder %s is in use by pid %d on host %s (since %s): two runs must not share --out; "+
				"if that process is gone, delete %s", dir, other.PID, other.Host, other.Started, path)
		}
		// A stale lock: its process on this host is gone.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("run folder: removing the stale %s of pid %d: %w", path, other.PID, err)
		}
	}
}

// alive reports whether a process of this pid runs on this host.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// claimNew makes sure a new run writes into an empty folder: a folder holding anything but the
// lock is refused, or with force its contents are moved into a subfolder named for the time
// (nothing of another run is deleted or overwritten). It returns that subfolder ("" if none).
func claimNew(dir string, force bool) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("run folder: %w", err)
	}
	var held []string
	for _, e := range ents {
		if e.Name() != lockFile {
			held = append(held, e.Name())
		}
	}
	if len(held) == 0 {
		return "", nil
	}
	if !force {
		return "", ConfigError{Err: fmt.Errorf("--out %s is not empty (it holds %s): continue that run with --resume %s, "+
			"choose another --out, or give --force to move its files into a subfolder and start afresh", dir, list3(held), dir)}
	}
	aside := filepath.Join(dir, "replaced-"+time.Now().UTC().Format("20060102T150405.000000000"))
	if err := os.Mkdir(aside, 0o755); err != nil {
		return "", fmt.Errorf("run folder: %w", err)
	}
	for _, n := range held {
		if err := os.Rename(filepath.Join(dir, n), filepath.Join(aside, n)); err != nil {
			return "", fmt.Errorf("run folder: moving %s aside: %w", n, err)
		}
	}
	return aside, nil
}

// list3 names the first three entries of a folder.
func list3(names []string) string {
	s := ""
	for i, n := range names {
		if i == 3 {
			return s + fmt.Sprintf(" and %d more", len(names)-3)
		}
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
