package nccl

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadFailureListsWhatWasTried(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent", "libnccl.so.2")
	t.Setenv(EnvNCCLLib, missing)
	t.Setenv(EnvCUDARTLib, "")
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A file that exists but is not a library: dlerror must be reported.
	if err := os.WriteFile(filepath.Join(b, "libcudart.so.12"), []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(LoadOptions{Dirs: []string{a, b}, NoLoaderPath: true})
	if err == nil {
		t.Fatal("Load succeeded with nothing to load")
	}
	msg := err.Error()
	for _, want := range []string{
		"nccl: cannot load the CUDA runtime (libcudart.so); tried:",
		a + ": no libcudart.so, libcudart.so.13, libcudart.so.12, libcudart.so.11.0",
		filepath.Join(b, "libcudart.so.12") + ": ", // with dlerror's text
		"set UNIGRPO_CUDART_LIB to the full path of libcudart.so",
		"nccl: cannot load NCCL (libnccl.so.2); tried:",
		"$UNIGRPO_NCCL_LIB=" + missing + ": " + missing + ": cannot open shared object file: No such file or directory",
		"set UNIGRPO_NCCL_LIB to the full path of libnccl.so.2",
		"site-packages/nvidia/nccl/lib",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !strings.Contains(msg, "invalid ELF header") && !strings.Contains(msg, "file too short") {
		t.Errorf("dlerror's text for the bad file is missing:\n%s", msg)
	}
	// The explicit NCCL path is the only one tried for NCCL.
	if strings.Contains(msg, a+": no libnccl") {
		t.Errorf("folders searched despite an explicit NCCL path:\n%s", msg)
	}
}

func TestLoadTriesTheLoaderPath(t *testing.T) {
	t.Setenv(EnvNCCLLib, "")
	t.Setenv(EnvCUDARTLib, "")
	t.Setenv("LD_LIBRARY_PATH", "/nowhere")
	lib, err := Load(LoadOptions{Dirs: []string{}})
	if err == nil {
		t.Skipf("this machine has NCCL and CUDA (%s, %s)", lib.NCCLPath(), lib.CUDARTPath())
	}
	msg := err.Error()
	for _, want := range []string{
		`libnccl.so.2 via the dynamic loader (LD_LIBRARY_PATH="/nowhere", ld.so cache): libnccl.so.2: cannot open shared object file`,
		// (not the CUDA runtime: other tests load a fake libcudart.so.12, which
		// the loader then finds by its soname)
		`libnccl.so via the dynamic loader`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestLoadRejectsWrongLibrary(t *testing.T) {
	lib := fakeLib(t) // builds the fakes
	_ = lib
	// The CUDA runtime loaded as NCCL lacks every NCCL symbol.
	_, err := Load(LoadOptions{NCCLPath: fakes.cudart, CUDARTPath: fakes.cudart, Dirs: []string{}, NoLoaderPath: true})
	if err == nil || !strings.Contains(err.Error(), "lacks ncclGetVersion, ncclGetUniqueId") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadSkipsRuntimeNewerThanDriver(t *testing.T) {
	fakeLib(t)
	t.Setenv("FAKE_CUDA_DRIVER", "11080")
	_, err := Load(LoadOptions{NCCLPath: fakes.nccl, CUDARTPath: fakes.cudart, Dirs: []string{}, NoLoaderPath: true})
	if err == nil || !strings.Contains(err.Error(), "CUDA runtime 12.4 needs a newer driver than this one (supports CUDA 11.8)") {
		t.Errorf("err = %v", err)
	}
}

// TestLoadFromPythonInstall puts the fakes where pip's nvidia-* wheels put
// the real libraries inside a virtual environment and lets Load find them.
func TestLoadFromPythonInstall(t *testing.T) {
	fakeLib(t)
	venv := t.TempDir()
	site := filepath.Join(venv, "lib", "python3.12", "site-packages", "nvidia")
	ncclDir := filepath.Join(site, "nccl", "lib")
	rtDir := filepath.Join(site, "cuda_runtime", "lib")
	for _, c := range []struct{ src, dir string }{{fakes.nccl, ncclDir}, {fakes.cudart, rtDir}} {
		data, err := os.ReadFile(c.src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(c.dir, 0o755)
		if err := os.WriteFile(filepath.Join(c.dir, filepath.Base(c.src)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("VIRTUAL_ENV", venv)
	t.Setenv(EnvNCCLLib, "")
	t.Setenv(EnvCUDARTLib, "")
	dirs, note := DefaultDirs()
	if !slices.Contains(dirs, ncclDir) || !slices.Contains(dirs, rtDir) || note != "" {
		t.Fatalf("DefaultDirs = %v (note %q); want the venv's nvidia folders", dirs, note)
	}
	if !slices.Contains(dirs, "/usr/local/cuda/lib64") {
		t.Errorf("DefaultDirs lacks /usr/local/cuda/lib64: %v", dirs)
	}
	lib, err := Load(LoadOptions{NoLoaderPath: true})
	if err != nil {
		t.Fatal(err)
	}
	if lib.NCCLPath() != filepath.Join(ncclDir, "libnccl.so.2") {
		t.Errorf("NCCL loaded from %s", lib.NCCLPath())
	}
	if lib.CUDARTPath() != filepath.Join(rtDir, "libcudart.so.12") {
		t.Errorf("CUDA runtime loaded from %s", lib.CUDARTPath())
	}
}

func TestDefaultDirsNote(t *testing.T) {
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("CONDA_PREFIX", "")
	t.Setenv("HOME", t.TempDir())
	dirs, note := DefaultDirs()
	for _, d := range dirs {
		if strings.Contains(d, "-packages") {
			t.Skipf("this machine has a Python install with NVIDIA libraries: %s", d)
		}
	}
	if !strings.Contains(note, "Python installs: no nvidia/nccl") || !strings.Contains(note, "/usr/lib/python3*/dist-packages") {
		t.Errorf("note = %q", note)
	}
}
