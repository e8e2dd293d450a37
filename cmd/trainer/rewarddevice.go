package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world/task"
)

// rewardDeviceFlags adds --reward-device and --reward-batch, where the reward's Hugging Face
// encoders run, to fs; *device and *batch receive them.
func rewardDeviceFlags(fs *pflag.FlagSet, device *string, batch *int, deviceDefault string) {
	fs.StringVar(device, "reward-device", *device, "where the reward's Hugging Face encoders run: cpu, cuda (GPU LOCAL_RANK) or auto ("+deviceDefault+")")
	fs.IntVar(batch, "reward-batch", *batch, fmt.Sprintf("most images per forward pass of the reward's Hugging Face encoders (0: %d); a step's sources and reconstructions are embedded in as few passes as this allows", vit.DefaultMaxBatch))
}

// checkRewardDevice checks --reward-device and --reward-batch as given, before anything is
// loaded.
func checkRewardDevice(device string, batch int) error {
	switch {
	case device != "" && device != "cpu" && device != "cuda" && device != "auto":
		return fmt.Errorf("--reward-device %q: use cpu, cuda or auto", device)
	case batch < 0:
		return fmt.Errorf("--reward-batch %d: give a positive number of images (0 for the default %d)", batch, vit.DefaultMaxBatch)
	}
	return nil
}

// rewardEncoders is where a rank's reward encoders run: --reward-device (by default the rank's
// own device, --device) with --reward-batch images a pass. With no Hugging Face encoder in
// names, or a reward service, nothing is placed: the CPU.
func rewardEncoders(c trainConfig, d *trainer.Dist) (vit.EmbedderOptions, error) {
	o := vit.EmbedderOptions{Device: gotch.CPU, MaxBatch: c.RewardBatch}
	if c.RewardURL != "" || !task.HasEncoders(c.Reward) {
		return o, nil
	}
	dev := c.RewardDevice
	if dev == "" {
		dev = c.Device
	}
	var err error
	if o.Device, err = trainer.ParseDevice(dev, d.LocalRank, d.ShareGPUs); err != nil {
		return o, usagef("--reward-device: %v", err)
	}
	return o, nil
}
