// Package trainer holds the training loops of the project: the supervised baseline (SFT) and
// Unified-GRPO, the reconstructive RL of the paper "Unified Multimodal Models as Auto-Encoders".
//
// The loop knows what it trains on only through small interfaces (seams.go): a Policy (the
// captioner: sample, teacher-forced log-probs, trainable parameters, save), a Source of images
// (training draws and a held-out set), the frozen Reward (reward.Reward: a decoder and embedders, in
// this process or a service) and a Judge of understanding where images have labels. The mains
// wire the concrete pieces (world/task for the synthetic world, images.Folder for files,
// package reward for a remote decoder).
//
// One GRPO step reads like the paper's Fig. 2, in this order (train.go):
//
//	rollout    sample G captions for each of B images with the policy      (Policy.Sample)
//	reward     decode each caption to an image, embed, cosine to the source (Task.Reward.Rewards)
//	advantage  normalise rewards inside each group of G                     (Advantages)
//	loss       clipped ratio + k3 KL per token, aggregated per trajectory   (Objective)
//	sync       gradients all-reduced as averages over ranks                 (collective)
//	update     global-norm clip and AdamW on the flat parameter vector      (learner: AdamW in host
//	           memory on CPUs, deviceOptimizer with the state on the GPU under CUDA)
//
// Shapes, used as names throughout: B images per rank and step, G samples per image,
// N = B*G trajectories, T caption tokens (padded), V vocabulary size.
//
// All libtorch work of a process happens on one goroutine locked to its OS thread (libtorch keeps
// grad mode and errors per thread); the loops call runtime.LockOSThread themselves.
package trainer
