package nccl

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakes holds the stand-in libraries built from testdata for this test
// binary (see testdata/fake_*.c); buildErr says why they could not be built.
var fakes struct {
	dir        string // libcudart.so.12 and libnccl.so.2
	noLastDir  string // libnccl.so.2 without ncclGetLastError
	cudart     string
	nccl       string
	ncclNoLast string
	buildErr   error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nccl-fakes-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fakes.buildErr = buildFakes(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildFakes(dir string) error {
	cc := os.Getenv("CC")
	if cc == "" {
		out, err := exec.Command("go", "env", "CC").Output()
		if err != nil {
			return fmt.Errorf("go env CC: %w", err)
		}
		cc = strings.TrimSpace(string(out))
	}
	fakes.dir = dir
	fakes.noLastDir = filepath.Join(dir, "nolast")
	fakes.cudart = filepath.Join(dir, "libcudart.so.12")
	fakes.nccl = filepath.Join(dir, "libnccl.so.2")
	fakes.ncclNoLast = filepath.Join(fakes.noLastDir, "libnccl.so.2")
	if err := os.MkdirAll(fakes.noLastDir, 0o755); err != nil {
		return err
	}
	cmds := [][]string{
		{cc, "-shared", "-fPIC", "-o", fakes.cudart, "-Wl,-soname,libcudart.so.12", "testdata/fake_cudart.c"},
		{cc, "-shared", "-fPIC", "-o", fakes.nccl, "testdata/fake_nccl.c", fakes.cudart, "-Wl,-rpath," + dir, "-lpthread"},
		{cc, "-shared", "-fPIC", "-DNO_LAST_ERROR", "-o", fakes.ncclNoLast, "testdata/fake_nccl.c", fakes.cudart, "-Wl,-rpath," + dir, "-lpthread"},
	}
	for _, args := range cmds {
		var stderr bytes.Buffer
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
	}
	return nil
}

// fakeLib loads the fake libraries; it fails the test if they could not be
// built (a cgo build always has a C compiler).
func fakeLib(t *testing.T) *Library {
	t.Helper()
	if fakes.buildErr != nil {
		t.Fatalf("building the fake libraries: %v", fakes.buildErr)
	}
	lib, err := Load(LoadOptions{NCCLPath: fakes.nccl, CUDARTPath: fakes.cudart, Dirs: []string{}, NoLoaderPath: true})
	if err != nil {
		t.Fatal(err)
	}
	return lib
}
