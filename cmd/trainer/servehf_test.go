package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// `trainer serve-reward` serves Hugging Face encoders (a CLIP-layout fixture, transformers' tiny
// clip_vision) beside a world embedder, with two workers: requests sent at once give exactly the
// rewards the in-process reward gives (oracle: task.NewRewardWith computed in this process, with
// the same batch of 4 images a pass). Bad --workers, --reward-device and --reward-batch are usage
// errors (exit 2), for serve-reward and for train.
func TestServeRewardWithHFEncoders(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	names := "conv,hf:" + filepath.Join(fixtures, "clip_vision")
	url, _ := startService(t, "--reward", names, "--workers", "2", "--reward-device", "cpu", "--reward-batch", "4")
	c, err := reward.Dial(url, reward.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := task.NewRewardWith(world.DefaultConfig(), names, vit.EmbedderOptions{MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got, want := c.Embedders(), local.Embedders(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("the service's embedders %q, in process %q", got, want)
	}
	set, err := task.Source{World: world.DefaultConfig()}.HeldOut(7, 3)
	if err != nil {
		t.Fatal(err)
	}
	const G = 2
	var caps []string
	for _, s := range set.Captions {
		caps = append(caps, s, "a small blue square")
	}
	keys := stream.Keys(7, stream.EvalDecode, 0, 0, len(caps))
	want, wantParts, err := local.Rewards(set.Images, G, caps, keys)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for r := range 3 { // more requests than workers: one queues
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, parts, err := c.Rewards(set.Images, G, caps, keys)
			if err != nil {
				t.Errorf("request %d: %v", r, err)
				return
			}
			for i := range want {
				if got[i] != want[i] || parts[i][0] != wantParts[i][0] || parts[i][1] != wantParts[i][1] {
					t.Errorf("request %d, row %d: served %v %v, in process %v %v", r, i, got[i], parts[i], want[i], wantParts[i])
				}
			}
		}()
	}
	wg.Wait()
	for _, bad := range [][]string{{"--workers", "0"}, {"--reward-device", "tpu"}, {"--reward-batch", "-2"}} {
		args := append([]string{"serve-reward", "--listen", "127.0.0.1:0", "--reward", names}, bad...)
		if got, code := runProgram(t, args...); code != 2 {
			t.Errorf("serve-reward %v: exit %d, want 2\n%s", bad, code, got)
		}
	}
	ck := tinyCheckpoint(t)
	bads := [][]string{{"--reward-device", "tpu"}, {"--reward-batch", "-1"}}
	if !gotch.CUDA.IsAvailable() {
		bads = append(bads, []string{"--reward-device", "cuda"})
	}
	for _, bad := range bads {
		args := append([]string{"train", "--init", ck, "--out", t.TempDir(), "--steps", "1", "--reward", names}, bad...)
		if got, code := runProgram(t, args...); code != 2 || !strings.Contains(got, "--reward-") {
			t.Errorf("train %v: exit %d, want 2 and an error naming the flag\n%s", bad, code, got)
		}
	}
}
