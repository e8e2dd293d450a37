package launch

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config describes one launch: the workers of this node and how to
// supervise them.
type Config struct {
	NProcs      int           // workers on this node
	NNodes      int           // nodes in the job, each running one launch
	NodeRank    int           // this node's index in [0, NNodes)
	MasterAddr  string        // host of rank 0
	MasterPort  int           // port of rank 0's store; 0 picks a free one (single node)
	Token       string        // job token; empty picks a random one (single node)
	Grace       time.Duration // time between SIGTERM and SIGKILL when stopping workers
	LogDir      string        // if set, worker output goes to LogDir/rank-N.log
	MaxRestarts int           // restarts of all workers after a failure

	Program string   // the worker program
	Args    []string // its arguments

	// Env is the workers' base environment (os.Environ() if nil); the
	// contract's variables are added to it.
	Env []string
	// Stdout and Stderr receive the workers' prefixed output and launch's
	// own messages (Stderr).
	Stdout, Stderr io.Writer
}

// ErrHelp is returned by ParseArgs for -h and --help.
var ErrHelp = pflag.ErrHelp

// Usage describes the command line.
const usageHead = `Usage: launch [flags] [--] PROGRAM [ARGS...]

Starts PROGRAM once per local rank with RANK, LOCAL_RANK, WORLD_SIZE,
LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK, MASTER_ADDR, MASTER_PORT and
UNIGRPO_JOB_TOKEN set, prefixes its output with "[rank N] ", and stops every
worker (SIGTERM, then SIGKILL after --grace) as soon as one fails. Exits with
the failed worker's status (128+signal if it was killed).

One node: launch -np 8 bin/trainer train ...
Several nodes, one launch per node (same flags everywhere but --node-rank):
  launch -np 8 --nnodes 2 --node-rank K --master-addr HOST0 --master-port 29400 \
         --token SECRET bin/trainer train ...
Under SLURM, 'srun --ntasks-per-node=1 launch -np 8 ...' takes the node
count, node rank, master address (first host), port (15000 + job id % 10000)
and token (derived from the job id and UNIGRPO_SECRET) from SLURM.

Workers that should resume after a restart must be told so in ARGS (for
example the trainer's resume flag); UNIGRPO_RESTART_COUNT tells them which
attempt they are.

Flags:
`

// flagsTakingNoValue lists the flags that do not consume the next argument.
var flagsTakingNoValue = map[string]bool{"-h": true, "--help": true}

// ParseArgs parses launch's command line. Flags that are not given fall
// back to the environment (looked up with lookup): MASTER_ADDR,
// MASTER_PORT, UNIGRPO_JOB_TOKEN, and under `srun launch` SLURM's node
// count, node id, node list and job id. It returns ErrHelp for --help, with
// the usage written to out.
func ParseArgs(args []string, lookup func(string) (string, bool), out io.Writer) (Config, error) {
	fs := pflag.NewFlagSet("launch", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(io.Discard)
	var c Config
	fs.IntVar(&c.NProcs, "np", 1, "number of worker processes on this node (MPI-style -np N works too)")
	fs.IntVar(&c.NProcs, "nproc-per-node", 1, "same as --np")
	fs.IntVar(&c.NNodes, "nnodes", 1, "number of nodes, each running one launch; under srun: SLURM_NNODES")
	fs.IntVar(&c.NodeRank, "node-rank", 0, "index of this node in 0..nnodes-1; under srun: SLURM_NODEID")
	fs.StringVar(&c.MasterAddr, "master-addr", "", "host of rank 0; else MASTER_ADDR, the first SLURM node, or 127.0.0.1 on one node")
	fs.IntVar(&c.MasterPort, "master-port", 0, "port of rank 0's rendezvous store; else MASTER_PORT, 15000 + SLURM job id % 10000, or a free port on one node")
	fs.StringVar(&c.Token, "token", "", "secret shared by all nodes; else UNIGRPO_JOB_TOKEN, one derived from the SLURM job id and UNIGRPO_SECRET, or a random one on one node")
	fs.DurationVar(&c.Grace, "grace", 5*time.Second, "time between SIGTERM and SIGKILL when stopping workers")
	fs.StringVar(&c.LogDir, "log-dir", "", "write each worker's output to DIR/rank-N.log instead of prefixing it")
	fs.IntVar(&c.MaxRestarts, "max-restarts", 0, "restart all workers up to this many times after a failure")
	fs.SortFlags = false
	if err := fs.Parse(normalizeArgs(args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(out, usageHead+fs.FlagUsages())
		}
		return Config{}, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return Config{}, errors.New("no program to run: launch [flags] [--] PROGRAM [ARGS...]")
	}
	c.Program, c.Args = rest[0], rest[1:]
	if err := c.fillFromEnv(fs, lookup); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// normalizeArgs rewrites the MPI-style "-np N" (which pflag would read as
// "-n p") to "--np N", in the flag part of the command line only.
func normalizeArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if a == "-np" || strings.HasPrefix(a, "-np=") {
			out[i] = "-" + a
		}
		if !strings.Contains(a, "=") && !flagsTakingNoValue[a] {
			i++ // skip the flag's value
		}
	}
	return out
}

// fillFromEnv gives the flags the user did not set their environment or
// SLURM defaults.
func (c *Config) fillFromEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	_, hasNodeID := lookup("SLURM_NODEID")
	_, hasProcID := lookup("SLURM_PROCID")
	inStep := hasNodeID && hasProcID
	if !fs.Changed("nnodes") && inStep {
		n, err := optInt(lookup, "SLURM_NNODES", 1)
		if err != nil {
			return err
		}
		c.NNodes = n
		if n > 1 {
			tasks, err := optInt(lookup, "SLURM_NTASKS", n)
			if err != nil {
				return err
			}
			if tasks != n {
				return fmt.Errorf("launch is running as %d SLURM tasks on %d nodes; start exactly one launch per node (srun --ntasks-per-node=1 launch ...) or pass --nnodes", tasks, n)
			}
		}
	}
	if !fs.Changed("node-rank") && inStep && c.NNodes > 1 {
		n, err := optInt(lookup, "SLURM_NODEID", 0)
		if err != nil {
			return err
		}
		c.NodeRank = n
	}
	if !fs.Changed("master-addr") {
		if v, ok := lookup(EnvMasterAddr); ok && v != "" {
			c.MasterAddr = v
		} else if c.NNodes > 1 && inStep {
			addr, err := slurmMasterAddr(lookup)
			if err != nil {
				return err
			}
			c.MasterAddr = addr
		} else if c.NNodes == 1 {
			c.MasterAddr = "127.0.0.1"
		}
	}
	if !fs.Changed("master-port") {
		if v, ok := lookup(EnvMasterPort); ok && v != "" {
			p, err := parseCount(EnvMasterPort, v)
			if err != nil {
				return err
			}
			c.MasterPort = p
		} else if c.NNodes > 1 && inStep {
			p, err := slurmMasterPort(lookup)
			if err != nil {
				return err
			}
			c.MasterPort = p
		}
	}
	if !fs.Changed("token") {
		c.Token = tokenFromEnv(lookup)
		if c.NNodes == 1 {
			if v, ok := lookup(EnvToken); !ok || v == "" {
				c.Token = "" // one node: a fresh random token per job
			}
		}
	}
	return nil
}

// Validate checks the configuration and fills the single-node defaults
// that need no environment.
func (c *Config) Validate() error {
	switch {
	case c.NProcs < 1:
		return fmt.Errorf("--np %d: need at least one worker", c.NProcs)
	case c.NNodes < 1:
		return fmt.Errorf("--nnodes %d: need at least one node", c.NNodes)
	case c.NodeRank < 0 || c.NodeRank >= c.NNodes:
		return fmt.Errorf("--node-rank %d is not a node of --nnodes %d (want 0..%d)", c.NodeRank, c.NNodes, c.NNodes-1)
	case c.MasterPort < 0 || c.MasterPort > 65535:
		return fmt.Errorf("--master-port %d: want 1..65535", c.MasterPort)
	case c.Grace < 0:
		return fmt.Errorf("--grace %v is negative", c.Grace)
	case c.MaxRestarts < 0:
		return fmt.Errorf("--max-restarts %d is negative", c.MaxRestarts)
	case c.Program == "":
		return errors.New("no program to run")
	}
	if c.NNodes > 1 {
		switch {
		case c.MasterAddr == "":
			return fmt.Errorf("--nnodes %d needs --master-addr (or MASTER_ADDR): the host of node 0", c.NNodes)
		case c.MasterPort == 0:
			return fmt.Errorf("--nnodes %d needs --master-port (or MASTER_PORT): the same free port on every node", c.NNodes)
		case c.Token == "":
			return fmt.Errorf("--nnodes %d needs --token (or UNIGRPO_JOB_TOKEN, or SLURM_JOB_ID under SLURM): the same secret on every node", c.NNodes)
		}
	}
	if c.MasterAddr == "" {
		c.MasterAddr = "127.0.0.1"
	}
	if c.Token == "" {
		c.Token = NewToken()
	}
	if c.Grace == 0 {
		c.Grace = time.Millisecond
	}
	return nil
}

// NewToken returns a random job token.
func NewToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WorldSize is the number of workers in the whole job.
func (c *Config) WorldSize() int { return c.NProcs * c.NNodes }
