// Package launch starts and supervises the processes of a data-parallel
// job, and defines the environment contract through which each process
// learns its place in the job.
//
// [Run] spawns one worker per local rank with the torchrun-compatible
// variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, NODE_RANK,
// GROUP_RANK, MASTER_ADDR, MASTER_PORT) plus the job token
// (UNIGRPO_JOB_TOKEN), prefixes their output with their rank, stops all of
// them when one fails and optionally restarts them.
//
// [FromEnv] is the worker side: it reads those variables, or the ones SLURM
// sets for `srun program`, or finds none and describes a single-process job.
//
// [ParseHostlist] expands SLURM node lists such as "gpu[01-04,07],cpu3".
package launch
