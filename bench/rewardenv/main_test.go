package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/embed"
	"github.com/unigrpo/unigrpo/world/task"
)

func TestServe(t *testing.T) {
	wc := world.DefaultConfig()
	rw, err := task.NewReward(wc, "all")
	if err != nil {
		t.Fatal(err)
	}
	env := env{task.Source{World: wc}, rw}
	tokens := [][]int{{3, 4, world.EOS}, {world.EOS}, {5, world.EOS}, {6}}
	reqs := []string{
		`{"op":"scenes","seed":7,"step":3,"batch":2}`,
		`{"op":"rewards","seed":7,"step":3,"batch":2,"group":2,"tokens":[[3,4,2],[2],[5,2],[6]]}`,
		`{"op":"rewards","seed":7,"step":3,"batch":2,"group":2,"tokens":[[3]]}`,
		`{"op":"rewards","seed":7,"step":3,"batch":1,"group":2,"tokens":[[3],[99]]}`,
		`{"op":"paint"}`,
		`not json`,
	}
	var out bytes.Buffer
	if err := serve(env, strings.NewReader(strings.Join(reqs, "\n")+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 16<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != len(reqs) {
		t.Fatalf("%d replies to %d requests", len(lines), len(reqs))
	}

	// Scenes are the trainer's own for that seed and step.
	var scenes sceneReply
	if err := json.Unmarshal([]byte(lines[0]), &scenes); err != nil {
		t.Fatal(err)
	}
	_, want := env.src.Scenes(7, 3, 0, 2)
	if len(scenes.Pix) != 2 || scenes.C != want[0].C || scenes.H != want[0].H || scenes.W != want[0].W {
		t.Fatalf("scenes reply: %d images of %dx%dx%d", len(scenes.Pix), scenes.C, scenes.H, scenes.W)
	}
	for i := range want {
		for j, v := range want[i].Pix {
			if scenes.Pix[i][j] != v {
				t.Fatalf("image %d pixel %d: %v, want %v", i, j, scenes.Pix[i][j], v)
			}
		}
	}

	// Rewards are the trainer's: the decoder reads the token ids with the trainer's streams and
	// the reward is the mean cosine over the embedders, computed here from the ids directly.
	var rr rewardReply
	if err := json.Unmarshal([]byte(lines[1]), &rr); err != nil {
		t.Fatal(err)
	}
	dec, _ := world.NewDecoder(wc)
	es, _ := embed.All(wc)
	wantR := make([]float64, len(tokens))
	for r, ids := range tokens {
		wantR[r] = reward.MeanReward(es, want[r/2], dec.Decode(ids, stream.RNG(7, stream.Decode, 3, r)))
	}
	if len(rr.Rewards) != len(wantR) {
		t.Fatalf("%d rewards, want %d", len(rr.Rewards), len(wantR))
	}
	for i := range wantR {
		if rr.Rewards[i] != wantR[i] {
			t.Errorf("reward %d: %v, want %v", i, rr.Rewards[i], wantR[i])
		}
	}

	for i, want := range []string{"1 captions for batch 2 x group 2", "caption 1 token 0 is id 99", `unknown op "paint"`, "bad request"} {
		var e errorReply
		if err := json.Unmarshal([]byte(lines[2+i]), &e); err != nil || !strings.Contains(e.Error, want) {
			t.Errorf("reply %d: %q (%v), want an error containing %q", 2+i, lines[2+i], err, want)
		}
	}
}
