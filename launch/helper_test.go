package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the worker program: with LAUNCH_TEST_WORKER
// set, TestMain runs a scenario instead of the tests.

// launchBin is the path of a freshly built cmd/launch, or "" when the build
// failed (buildErr says why).
var launchBin, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	if os.Getenv("LAUNCH_TEST_WORKER") != "" {
		os.Exit(workerMain(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "launch-test-bin")
	if err != nil {
		panic(err)
	}
	launchBin = filepath.Join(dir, "launch")
	out, err := exec.Command("go", "build", "-o", launchBin, "github.com/unigrpo/unigrpo/cmd/launch").CombinedOutput()
	if err != nil {
		buildErr = fmt.Errorf("go build cmd/launch: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needLaunchBin returns the launch binary or fails the test.
func needLaunchBin(t *testing.T) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return launchBin
}

// workerMain runs the behaviour that the arguments give for this worker's
// rank: args[0] is "scenario" followed by RANK:MODE pairs (default mode
// "sleep"), or a mode for every rank.
func workerMain(args []string) int {
	rank, _ := strconv.Atoi(os.Getenv("RANK"))
	mode := "sleep"
	if len(args) > 0 && args[0] != "scenario" {
		mode = args[0]
	}
	for _, a := range args[1:] {
		if r, m, ok := strings.Cut(a, ":"); ok && r == strconv.Itoa(rank) {
			mode = m
		}
	}
	dir := os.Getenv("LAUNCH_TEST_DIR")
	writePid := func(name string, pid int) {
		tmp := filepath.Join(dir, name+".tmp")
		os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644)
		os.Rename(tmp, filepath.Join(dir, name))
	}
	switch mode {
	case "env", "train": // "train": stands in for the trainer in the SLURM scripts
		e, err := FromEnv()
		if err != nil {
			fmt.Println("ENVERR", err)
			return 1
		}
		b, _ := json.Marshal(e)
		fmt.Printf("ENV %s OMP=%s ARGS=%s\n", b, os.Getenv("OMP_NUM_THREADS"), strings.Join(args, " "))
		return 0
	case "chatter":
		// Each line goes out in three writes, to tempt mid-line mixing.
		pad := strings.Repeat(strconv.Itoa(rank), 300)
		for i := range 400 {
			os.Stdout.WriteString(fmt.Sprintf("rank %d line %d ", rank, i))
			os.Stdout.WriteString(pad)
			os.Stdout.WriteString("\n")
		}
		fmt.Fprintf(os.Stderr, "rank %d done", rank) // no final newline
		return 0
	case "exit3":
		time.Sleep(300 * time.Millisecond)
		return 3
	case "fail-first":
		if os.Getenv(EnvRestartCount) == "0" {
			time.Sleep(100 * time.Millisecond)
			return 3
		}
		fmt.Printf("attempt %s ok\n", os.Getenv(EnvRestartCount))
		return 0
	case "grandchild":
		time.Sleep(time.Hour)
		return 0
	case "sleep", "stubborn", "family":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		if mode == "family" {
			c := exec.Command(os.Args[0], "grandchild")
			if err := c.Start(); err != nil {
				return 1
			}
			writePid(fmt.Sprintf("gpid-%d", rank), c.Process.Pid)
		}
		writePid(fmt.Sprintf("pid-%d", rank), os.Getpid())
		for {
			select {
			case sig := <-sigs:
				if mode != "stubborn" {
					fmt.Printf("rank %d got %v\n", rank, sig)
					return 0
				}
			case <-time.After(time.Minute):
				return 4 // the test forgot us
			}
		}
	}
	fmt.Fprintln(os.Stderr, "unknown mode", mode)
	return 1
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	state := s[i+2]
	return state != 'Z' && state != 'X'
}

// waitPids waits until the pid files exist and returns the pids.
func waitPids(t *testing.T, dir string, names ...string) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	pids := make([]int, len(names))
	for i, name := range names {
		for {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				pids[i], _ = strconv.Atoi(string(b))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker never wrote %s", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return pids
}

// assertGone fails unless every pid is dead within a few seconds.
func assertGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Errorf("process %d is still running", pid)
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// testEnv is the workers' environment for a test using dir.
func testEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OMP_NUM_THREADS=") && !strings.HasPrefix(kv, "SLURM_") {
			env = append(env, kv)
		}
	}
	return append(env, "LAUNCH_TEST_WORKER=1", "LAUNCH_TEST_DIR="+dir)
}
