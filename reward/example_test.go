package reward_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
)

// standInReward is the reward of scripts/examples/reward-server.py --stand-in, computed here: the
// reconstruction of a caption of n words blends the source x with grey (a = min(1, n/10),
// rec = (1-a)*0.5 + a*x), the one embedder "pixels" is the values minus 0.25, and the reward is
// the cosine of the two embeddings (0 when either is zero).
func standInReward(x images.Planar, caption string) float64 {
	a := math.Min(1, float64(len(strings.Fields(caption)))/10)
	var dot, na, nb float64
	for _, v := range x.Pix {
		s := float64(v)
		rec := (1-a)*0.5 + a*s
		e, f := s-0.25, rec-0.25
		dot += e * f
		na += e * e
		nb += f * f
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / (math.Sqrt(na) * math.Sqrt(nb))
}

// lockedBuffer collects a process's stderr while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// python3 finds an interpreter for the example server, /usr/bin/python3 first.
func python3(t *testing.T) string {
	if _, err := exec.LookPath("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("no python3 to run scripts/examples/reward-server.py: run make test, or scripts/oracles/install.sh")
	}
	return py
}

// startExample starts the example server with --stand-in on a free port and returns its base
// URL; the server is stopped (SIGTERM, and it must exit 0) when the test ends.
func startExample(t *testing.T, py string) string {
	t.Helper()
	url, _, _ := startExampleWith(t, py)
	return url
}

// startExampleWith is startExample with more flags; it also returns the process and its stderr.
func startExampleWith(t *testing.T, py string, flags ...string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	script, err := filepath.Abs("../scripts/examples/reward-server.py")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)

	cmd := exec.Command(py, append([]string{script, "--listen", addr, "--stand-in"}, flags...)...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s %s: %v", py, script, err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the example server did not exit cleanly on SIGTERM: %v\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("the example server did not exit within 5 s of SIGTERM\nstderr:\n%s", stderr.String())
		}
		if t.Failed() {
			t.Logf("example server stderr:\n%s", stderr.String())
		}
	})
	select {
	case line, ok := <-lines:
		if want := "serving protocol 1 on " + addr; !ok || line != want {
			t.Fatalf("the example server printed %q, want %q\nstderr:\n%s", line, want, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the example server did not say it was serving within 20 s\nstderr:\n%s", stderr.String())
	}
	return "http://" + addr, cmd, stderr
}

// checkStandIn asks the service for the rewards of src under captions and compares them with
// the stand-in's reward computed here.
func checkStandIn(t *testing.T, c *reward.Client, src []images.Planar, G int, captions []string) {
	t.Helper()
	keys := stream.Keys(7, stream.Decode, 3, 0, len(captions))
	rewards, parts, err := c.Rewards(src, G, captions, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rewards) != len(captions) || len(parts) != len(captions) {
		t.Fatalf("%d rewards and %d parts for %d captions", len(rewards), len(parts), len(captions))
	}
	for r, caption := range captions {
		want := standInReward(src[r/G], caption)
		if len(parts[r]) != 1 {
			t.Fatalf("caption %d: %d parts, want 1", r, len(parts[r]))
		}
		if math.Abs(rewards[r]-want) > 1e-12 || math.Abs(parts[r][0]-want) > 1e-12 {
			t.Errorf("caption %d %q: reward %.17g, part %.17g, want %.17g", r, caption, rewards[r], parts[r][0], want)
		}
		if rewards[r] != parts[r][0] {
			t.Errorf("caption %d: reward %.17g differs from its only part %.17g", r, rewards[r], parts[r][0])
		}
	}
}

// post sends a raw request body and returns the status and the decoded answer.
func post(t *testing.T, url, body string) (int, reward.Response) {
	t.Helper()
	res, err := http.Post(url+"/v1/rewards", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out reward.Response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: the answer (%s) is not JSON: %v", body, res.Status, err)
	}
	if out.Protocol != reward.Protocol {
		t.Errorf("POST %s: the answer says protocol %d", body, out.Protocol)
	}
	return res.StatusCode, out
}

// TestPythonExampleServer runs scripts/examples/reward-server.py --stand-in and checks that it
// speaks the protocol with this package's client and computes the stand-in reward.
func TestPythonExampleServer(t *testing.T) {
	py := python3(t)
	url := startExample(t, py)

	c, err := reward.Dial(url, reward.ClientOptions{Deadline: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Embedders(); len(got) != 1 || got[0] != "pixels" {
		t.Fatalf("embedders %q, want [pixels]", got)
	}
	if info := c.Info(); info.MaxBatch != 256 || info.MaxBodyBytes <= 0 {
		t.Errorf("info %+v: want max_batch 256 and a body limit", info)
	}

	// Images that 8 bits cannot hold travel as float32.
	const G = 2
	captions := []string{
		"",
		"a red cube",
		"two blue spheres left of a green cylinder",
		"one two three four five six seven eight nine ten eleven",
		"  spaced \t words  ",
		"single",
	}
	src := make([]images.Planar, 3)
	for b := range src {
		src[b] = images.NewPlanar(3, 8, 8)
		for i := range src[b].Pix {
			src[b].Pix[i] = float32(0.1 + 0.8*float64((i*37+b*11)%101)/101)
		}
		if src[b].Is8Bit() {
			t.Fatalf("source %d holds only multiples of 1/255: it would not travel as f32", b)
		}
	}
	checkStandIn(t, c, src, G, captions)

	// An image whose embedding is zero has reward 0.
	flat := images.NewPlanar(3, 2, 2)
	for i := range flat.Pix {
		flat.Pix[i] = 0.25
	}
	checkStandIn(t, c, []images.Planar{flat}, 1, []string{"a b c"})

	// 8-bit images travel as PNG, which the server decodes only with Pillow.
	src8 := make([]images.Planar, 3)
	for b := range src8 {
		src8[b] = images.NewPlanar(3, 8, 8)
		for i := range src8[b].Pix {
			src8[b].Pix[i] = float32((i*53+b*29)%256) / 255
		}
		if !src8[b].Is8Bit() {
			t.Fatalf("8-bit source %d is not 8-bit", b)
		}
	}
	if exec.Command(py, "-c", "import PIL").Run() == nil {
		checkStandIn(t, c, src8, G, captions)
	} else {
		_, _, err := c.Rewards(src8, G, captions, stream.Keys(7, stream.Decode, 3, 0, len(captions)))
		if err == nil || !strings.Contains(err.Error(), "Pillow") {
			t.Errorf("PNG images to a server without Pillow: got error %v, want one naming Pillow", err)
		}
		t.Logf("%s has no Pillow: PNG images checked to be refused", py)
	}

	// Requests the server must refuse.
	status, res := post(t, url, `{"protocol":2,"group":1,"images":[],"captions":[],"keys":[]}`)
	if status != http.StatusBadRequest || !strings.Contains(res.Error, "protocol 2") || !strings.Contains(res.Error, "protocol 1") {
		t.Errorf("protocol 2: status %d, error %q; want 400 naming both versions", status, res.Error)
	}
	status, res = post(t, url, `{"protocol":1,"group":2,"images":[{"f32":"AAAAAAAAAAAAAAAA","c":3,"h":1,"w":1}],"captions":["a"],"keys":[{"seed64":1}]}`)
	if status != http.StatusBadRequest || !strings.Contains(res.Error, "captions") {
		t.Errorf("1 caption for 1 image x group 2: status %d, error %q; want 400 about captions", status, res.Error)
	}
	status, res = post(t, url, `{"protocol":1,`)
	if status != http.StatusBadRequest || res.Error == "" {
		t.Errorf("malformed JSON: status %d, error %q; want 400 with an error", status, res.Error)
	}
	if res, err := http.Get(url + "/v2/info"); err != nil {
		t.Error(err)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /v2/info: status %d, want 404", res.StatusCode)
		}
	}
	if _, _, err := c.Rewards(src, G, captions[:5], stream.Keys(7, stream.Decode, 3, 0, 5)); err == nil {
		t.Error("5 captions for 3 images x G=2: no error")
	}
}
