// Package plan is the memory plan of a Unified-GRPO run, made before the run from the model's
// config alone (models/hf/shape): per rank, the bytes of the weights, the float32 master weights,
// AdamW's moments, the gradients, the frozen reference, the rollout's key/value cache, the
// activations of one update micro-batch and the optimizer step's temporaries, against a budget
// (the GPU's memory through NVML, the host's MemAvailable), with the knobs that bring an
// over-budget run under it (Suggest). `trainer plan` prints it, and `trainer train` prints it and
// refuses a run that cannot fit before it loads a weight.
//
// Each row says its basis: "counted" rows come from the tensors' shapes and equal what the
// loaders and the stepper allocate (the tests of cmd/trainer and models/hf/shape count them);
// "code" rows are what the trainer's code allocates (trainer/deviceopt.go, devicegrads.go,
// hostopt.go), read from it; "estimate" rows are formulas with approximations (activations,
// the prefill's attention, the CUDA runtime), stated in Formulas.
//
// The package needs neither libtorch nor a GPU: it is arithmetic on a config, and the budget is
// read through NVML (package monitor) or /proc/meminfo, or given.
package plan
