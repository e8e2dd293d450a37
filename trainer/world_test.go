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

// worldTask is the GRPO task of c: world scenes or c.Images, the world's reward and judge.
func worldTask(c GRPOConfig) (Task, error) {
	wc := world.DefaultConfig()
	t := Task{Source: worldtask.Source{World: wc}, Judge: worldtask.Judge{}, Load: loadWorldPolicy, About: "world scenes"}
	if c.Images != "" {
		f, err := images.OpenFolder(c.Images, c.ImagesHeld, wc.Size, c.SkipBad)
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
func trainWorld(c GRPOConfig, resume bool, d *Dist) error {
	task, err := worldTask(c)
	if err != nil {
		return err
	}
	return Train(c, task, resume, d, nil)
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
