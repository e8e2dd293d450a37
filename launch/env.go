package launch

import (
	"fmt"
	"os"
	"strconv"
)

// Names of the environment variables of the contract between launch (or
// SLURM) and the workers.
const (
	EnvRank           = "RANK"
	EnvLocalRank      = "LOCAL_RANK"
	EnvWorldSize      = "WORLD_SIZE"
	EnvLocalWorldSize = "LOCAL_WORLD_SIZE"
	EnvNodeRank       = "NODE_RANK"
	EnvGroupRank      = "GROUP_RANK" // torchrun's name for the node rank
	EnvMasterAddr     = "MASTER_ADDR"
	EnvMasterPort     = "MASTER_PORT"
	// EnvToken holds the job's shared secret, which the rendezvous store
	// and the ring demand from every rank.
	EnvToken = "UNIGRPO_JOB_TOKEN"
	// EnvSecret, if set, is mixed into tokens derived from SLURM job ids,
	// which other users of the cluster can see.
	EnvSecret = "UNIGRPO_SECRET"
	// EnvRestartCount tells a worker how many times launch restarted the
	// job before starting it (0 on the first attempt).
	EnvRestartCount = "UNIGRPO_RESTART_COUNT"
)

// Source says where an Env came from.
type Source string

// Sources of an Env.
const (
	SourceLaunch Source = "launch" // RANK, WORLD_SIZE... (launch or torchrun)
	SourceSLURM  Source = "slurm"  // SLURM_PROCID, SLURM_NTASKS... (srun)
	SourceSingle Source = "single" // nothing set: one process
)

// Env is a worker's place in the job.
type Env struct {
	Rank           int    // global rank in [0, WorldSize)
	LocalRank      int    // rank on this node, e.g. the GPU index
	WorldSize      int    // number of processes in the job
	LocalWorldSize int    // number of processes on this node
	NodeRank       int    // index of this node
	MasterAddr     string // host of rank 0's rendezvous store
	MasterPort     int    // port of the store
	Token          string // shared job secret
	RestartCount   int    // restarts before this attempt
	Source         Source
}

// FromEnv reads the process environment; see FromLookup.
func FromEnv() (Env, error) { return FromLookup(os.LookupEnv) }

// FromLookup derives the worker's Env from variables looked up with
// lookup:
//
//   - When RANK or WORLD_SIZE is set (launch, torchrun or by hand), those
//     variables rule: LOCAL_RANK defaults to RANK, LOCAL_WORLD_SIZE to
//     WORLD_SIZE, NODE_RANK (or GROUP_RANK) to 0; a job of several ranks
//     needs MASTER_ADDR, MASTER_PORT and a token.
//   - Otherwise, under `srun program` (SLURM_PROCID and SLURM_NTASKS set):
//     rank SLURM_PROCID of SLURM_NTASKS, local rank SLURM_LOCALID, node
//     SLURM_NODEID; MASTER_ADDR is the first host of the step's node list
//     unless set; MASTER_PORT, unless set, is 15000 + SLURM_JOB_ID % 10000.
//   - Otherwise, a single process: rank 0 of 1.
//
// The token is UNIGRPO_JOB_TOKEN, or else is derived from SLURM_JOB_ID and
// UNIGRPO_SECRET. Inconsistent or malformed values are errors.
func FromLookup(lookup func(string) (string, bool)) (Env, error) {
	_, hasRank := lookup(EnvRank)
	_, hasWorld := lookup(EnvWorldSize)
	_, hasProcID := lookup("SLURM_PROCID")
	_, hasTasks := lookup("SLURM_NTASKS")
	var e Env
	var err error
	switch {
	case hasRank || hasWorld:
		e, err = fromLaunchVars(lookup)
	case hasProcID && hasTasks:
		e, err = fromSLURM(lookup)
	default:
		e = Env{WorldSize: 1, LocalWorldSize: 1, Source: SourceSingle}
	}
	if err != nil {
		return Env{}, fmt.Errorf("launch environment (%s): %w", e.Source, err)
	}
	if e.RestartCount, err = optInt(lookup, EnvRestartCount, 0); err != nil {
		return Env{}, fmt.Errorf("launch environment: %w", err)
	}
	return e, nil
}

func fromLaunchVars(lookup func(string) (string, bool)) (Env, error) {
	e := Env{Source: SourceLaunch}
	var err error
	if e.Rank, err = reqInt(lookup, EnvRank); err != nil {
		return e, err
	}
	if e.WorldSize, err = reqInt(lookup, EnvWorldSize); err != nil {
		return e, err
	}
	if e.LocalRank, err = optInt(lookup, EnvLocalRank, e.Rank); err != nil {
		return e, err
	}
	if e.LocalWorldSize, err = optInt(lookup, EnvLocalWorldSize, e.WorldSize); err != nil {
		return e, err
	}
	node, err := optInt(lookup, EnvGroupRank, 0)
	if err != nil {
		return e, err
	}
	if e.NodeRank, err = optInt(lookup, EnvNodeRank, node); err != nil {
		return e, err
	}
	e.MasterAddr, _ = lookup(EnvMasterAddr)
	if e.MasterPort, err = optInt(lookup, EnvMasterPort, 0); err != nil {
		return e, err
	}
	e.Token = tokenFromEnv(lookup)
	return e, e.check()
}

func fromSLURM(lookup func(string) (string, bool)) (Env, error) {
	e := Env{Source: SourceSLURM}
	var err error
	if e.Rank, err = reqInt(lookup, "SLURM_PROCID"); err != nil {
		return e, err
	}
	if e.WorldSize, err = reqInt(lookup, "SLURM_NTASKS"); err != nil {
		return e, err
	}
	if e.LocalRank, err = optInt(lookup, "SLURM_LOCALID", 0); err != nil {
		return e, err
	}
	if e.NodeRank, err = optInt(lookup, "SLURM_NODEID", 0); err != nil {
		return e, err
	}
	if e.LocalWorldSize, err = slurmTasksOnNode(lookup, e.NodeRank, e.WorldSize); err != nil {
		return e, err
	}
	if e.WorldSize > 1 {
		if e.MasterAddr, err = slurmMasterAddr(lookup); err != nil {
			return e, err
		}
		if e.MasterPort, err = slurmMasterPort(lookup); err != nil {
			return e, err
		}
	}
	e.Token = tokenFromEnv(lookup)
	return e, e.check()
}

// check validates the relations between the fields.
func (e Env) check() error {
	src := map[Source][4]string{
		SourceLaunch: {EnvRank, EnvWorldSize, EnvLocalRank, EnvLocalWorldSize},
		SourceSLURM:  {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "tasks on this node"},
	}[e.Source]
	switch {
	case e.WorldSize < 1:
		return fmt.Errorf("%s=%d: the world needs at least one process", src[1], e.WorldSize)
	case e.Rank < 0 || e.Rank >= e.WorldSize:
		return fmt.Errorf("%s=%d is not a rank of a world of %s=%d (want 0..%d)", src[0], e.Rank, src[1], e.WorldSize, e.WorldSize-1)
	case e.LocalWorldSize < 1 || e.LocalWorldSize > e.WorldSize:
		return fmt.Errorf("%s=%d must be in 1..%s=%d", src[3], e.LocalWorldSize, src[1], e.WorldSize)
	case e.LocalRank < 0 || e.LocalRank >= e.LocalWorldSize:
		return fmt.Errorf("%s=%d is not a local rank of %s=%d (want 0..%d)", src[2], e.LocalRank, src[3], e.LocalWorldSize, e.LocalWorldSize-1)
	case e.NodeRank < 0:
		return fmt.Errorf("node rank %d is negative", e.NodeRank)
	case e.WorldSize == 1:
		return nil
	case e.MasterAddr == "":
		return fmt.Errorf("%s is not set: a job of %d processes needs the address of rank 0", EnvMasterAddr, e.WorldSize)
	case e.MasterPort < 1 || e.MasterPort > 65535:
		return fmt.Errorf("%s=%d: a job of %d processes needs a port in 1..65535", EnvMasterPort, e.MasterPort, e.WorldSize)
	case e.Token == "":
		return fmt.Errorf("%s is not set: every process of the job needs the same token (launch sets it; by hand, export the same random string on every node)", EnvToken)
	}
	return nil
}

// reqInt reads a required non-negative decimal integer.
func reqInt(lookup func(string) (string, bool), name string) (int, error) {
	s, ok := lookup(name)
	if !ok {
		return 0, fmt.Errorf("%s is not set", name)
	}
	return parseCount(name, s)
}

// optInt reads an optional non-negative decimal integer.
func optInt(lookup func(string) (string, bool), name string, def int) (int, error) {
	s, ok := lookup(name)
	if !ok || s == "" {
		return def, nil
	}
	return parseCount(name, s)
}

func parseCount(name, s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, s)
	}
	return v, nil
}
