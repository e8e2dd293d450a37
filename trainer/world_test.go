package trainer

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// The tests train on the world through the seams, wired as cmd/trainer wires them.

func loadWorldPolicy(path string, dev gotch.Device, o LoadOptions) (Policy, error) {
	m, err := captioner.LoadTrainable(path, dev, o.TrainVision, !o.Frozen)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return m, nil
}

// testRun is a GRPO run of the tests: the loop's configuration and the task's settings, as
// cmd/trainer's trainConfig holds them and config.json records them.
type testRun struct {
	GRPOConfig
	Reward          string  `json:"reward"`
	Images          string  `json:"images,omitempty"`
	ImagesHeld      float64 `json:"images_held_out,omitempty"`
	SkipBad         bool    `json:"skip_bad_images,omitempty"`
	Guidance        float64 `json:"guidance,omitempty"`
	DrawTemperature float64 `json:"draw_temperature,omitempty"`
}

// defaultTestRun has the command's defaults.
func defaultTestRun() testRun {
	return testRun{GRPOConfig: DefaultGRPOConfig(), Reward: "all", ImagesHeld: 0.1, Guidance: 3}
}

// readTestRun reads the config.json of a run folder as --resume does.
func readTestRun(dir string) (testRun, error) {
	c := defaultTestRun()
	return c, ReadRunConfig(dir, &c)
}

// worldTask is the GRPO task of c: world scenes or c.Images, the world's reward and judge.
func worldTask(c testRun) (Task, error) {
	wc := world.DefaultConfig()
	t := Task{Source: worldtask.Source{World: wc}, Judge: worldtask.Judge{}, Load: loadWorldPolicy, About: "world scenes", Config: c}
	if c.Images != "" {
		f, err := images.OpenFolder(c.Images, c.ImagesHeld, wc.Size, c.SkipBad, 0)
		if err != nil {
			return Task{}, fmt.Errorf("--images: %w", err)
		}
		t.Source, t.About = f, c.Images
	}
	rw, err := worldtask.NewReward(wc, c.Reward)
	if err != nil {
		return Task{}, err
	}
	t.Reward = rw
	return t, nil
}

// trainWorld runs GRPO on the world's task of c.
func trainWorld(c testRun, resume bool, d *Dist) error {
	task, err := worldTask(c)
	if err != nil {
		return err
	}
	return Train(c.GRPOConfig, task, resume, d, nil)
}

// sftWorld runs SFT of a model of shape m on the world's partial captions.
func sftWorld(c SFTConfig, m captioner.Config, d *Dist) error {
	wc := world.DefaultConfig()
	m.Vocab, m.ImageSize = world.NewVocab().V(), wc.Size
	rw, err := worldtask.NewReward(wc, "all")
	if err != nil {
		return err
	}
	task := SFTTask{
		Data:   worldtask.Partial{Source: worldtask.Source{World: wc}, Options: world.DefaultPartialOptions()},
		Reward: rw, Judge: worldtask.Judge{},
		New: func(dev gotch.Device, seed uint64) (SupervisedPolicy, error) { return captioner.New(m, dev, seed) },
	}
	return SFT(c, task, d, nil)
}
