package main

import (
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/trainer"
)

// --reward-unstated omit reaches the world's reward: config.json records it and the same run with
// the same seed (so the same captions at step 1) is rewarded differently, since the tiny policy's
// partial captions are drawn with guessed attributes under prior and left out under omit. Oracle:
// the same run with the default decoder. Wrong values are usage errors (TestUsageErrorsExit2).
func TestRewardUnstatedReachesTheReward(t *testing.T) {
	ck := tinyCheckpoint(t)
	tmp := t.TempDir()
	args := []string{"train", "--init", ck, "--batch", "2", "--group", "4", "--steps", "1", "--eval-scenes", "0",
		"--plot-every", "0", "--monitor-interval", "0"}
	reward := map[string]float64{}
	for _, u := range []string{"prior", "omit"} {
		out := filepath.Join(tmp, u)
		if got, code := runProgram(t, append(args, "--out", out, "--reward-unstated", u)...); code != 0 {
			t.Fatalf("--reward-unstated %s: exit %d\n%s", u, code, got)
		}
		r, err := trainer.ReadRecords(filepath.Join(out, "metrics.jsonl"))
		if err != nil || len(r) != 1 {
			t.Fatalf("--reward-unstated %s: %d records (%v)", u, len(r), err)
		}
		reward[u] = r[0]["reward_mean"]
		var saved trainConfig
		if err := trainer.ReadRunConfig(out, &saved); err != nil || saved.Unstated != u {
			t.Errorf("config.json records reward_unstated %q (%v), want %q", saved.Unstated, err, u)
		}
	}
	if reward["prior"] == reward["omit"] {
		t.Errorf("step 1 reward %v under both decoders: --reward-unstated did not reach the reward", reward["prior"])
	}
}
