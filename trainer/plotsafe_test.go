package trainer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
)

// hugeReward scales a reward far past any cosine, as a broken in-process reward might.
type hugeReward struct {
	reward.Reward
	scale float64
}

func (h hugeReward) Rewards(src []images.Planar, G int, caps []string, keys []stream.Key) ([]float64, [][]float64, error) {
	r, p, err := h.Reward.Rewards(src, G, caps, keys)
	for i := range r {
		r[i] *= h.scale
	}
	return r, p, err
}

// A one-step run whose rewards are about 1e150 (each curve one huge point, which gonum's axis
// padding cannot widen) still ends with its final checkpoint and its figures. Oracle: the run
// folder's files.
func TestHugeRewardsKeepFinalCheckpointAndPlots(t *testing.T) {
	c := smallGRPO(baseline(t), filepath.Join(t.TempDir(), "run"))
	c.Steps, c.EvalEvery, c.EvalScenes, c.CheckEvery = 1, 0, 0, 0
	task, err := worldTask(c)
	if err != nil {
		t.Fatal(err)
	}
	task.Reward = hugeReward{Reward: task.Reward, scale: 1e150}
	if err := Train(c.GRPOConfig, task, false, solo(t), nil); err != nil {
		t.Fatal(err)
	}
	if cks, err := Checkpoints(c.Out); err != nil || len(cks) != 1 {
		t.Fatalf("checkpoints %v (%v); want the final one", cks, err)
	}
	if _, err := os.Stat(filepath.Join(c.Out, "plots")); err != nil {
		t.Errorf("no figures: %v", err)
	}
}
