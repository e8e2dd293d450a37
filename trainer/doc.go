// Package trainer holds the training loops of the project: the supervised baseline (SFT) and
// Unified-GRPO, the reconstructive RL of the paper "Unified Multimodal Models as Auto-Encoders".
//
// One GRPO step reads like the paper's Fig. 2, in this order:
//
//	rollout    sample G captions for each of B scenes with the policy      (policy.Sample)
//	reward     decode each caption to an image, embed, cosine to the source (Env.Rewards)
//	advantage  normalise rewards inside each group of G                     (Advantages)
//	loss       clipped ratio + k3 KL per token, aggregated per trajectory   (Objective)
//	sync       gradients all-reduced as averages over ranks                 (collective)
//	update     global-norm clip and AdamW on the flat parameter vector      (learner: AdamW in host
//	           memory on CPUs, deviceOptimizer with the state on the GPU under CUDA)
//
// Shapes, used as names throughout: B scenes (images) per rank and step, G samples per scene,
// N = B*G trajectories, T caption tokens (padded), V vocabulary size.
//
// All libtorch work of a process happens on one goroutine locked to its OS thread (see
// models/policy); the loops call runtime.LockOSThread themselves.
package trainer
