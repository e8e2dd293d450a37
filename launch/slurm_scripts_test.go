package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sbatchOption returns the value of "#SBATCH --name=value" in script, or "".
func sbatchOption(script, name string) string {
	m := regexp.MustCompile(`(?m)^#SBATCH --` + regexp.QuoteMeta(name) + `=(\S+)`).FindStringSubmatch(script)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestSlurmScripts runs each sbatch script of scripts/examples/slurm under a faked
// batch allocation (sized from its #SBATCH lines) with a fake srun that
// starts the tasks locally, and the test binary as the trainer printing the
// environment it derives. Every rank must come out exactly once, with the
// first node as master, the job's port and one shared token.
func TestSlurmScripts(t *testing.T) {
	bin := needLaunchBin(t)
	srun, err := filepath.Abs("testdata/fake-srun")
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob("../scripts/examples/slurm/*.sbatch")
	if err != nil || len(scripts) < 3 {
		t.Fatalf("found %d scripts (%v)", len(scripts), err)
	}
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			nodes, _ := strconv.Atoi(sbatchOption(string(src), "nodes"))
			perNode, _ := strconv.Atoi(sbatchOption(string(src), "ntasks-per-node"))
			if nodes < 1 || perNode < 1 {
				t.Fatalf("script lacks #SBATCH --nodes/--ntasks-per-node")
			}
			ranksPerNode := perNode
			if strings.Contains(string(src), `"$LAUNCH" -np "$GPUS_PER_NODE"`) {
				// One launch per node, each starting GPUS_PER_NODE workers.
				m := regexp.MustCompile(`GPUS_PER_NODE=\$\{GPUS_PER_NODE:-(\d+)\}`).FindStringSubmatch(string(src))
				if m == nil {
					t.Fatal("cannot find the default GPUS_PER_NODE")
				}
				ranksPerNode, _ = strconv.Atoi(m[1])
			}
			world := nodes * ranksPerNode
			const jobID = 73125
			hosts := fmt.Sprintf("node%02d", 7)
			if nodes > 1 {
				hosts = fmt.Sprintf("node[07-%02d]", 6+nodes)
			}
			cmd := exec.Command("bash", path, "--steps", "5")
			cmd.Env = append(testEnv(t.TempDir()),
				"SRUN="+srun, "LAUNCH="+bin, "TRAINER="+os.Args[0],
				// What sbatch puts in the batch script's environment.
				"SLURM_JOB_ID="+strconv.Itoa(jobID), "SLURM_JOB_NODELIST="+hosts,
				"SLURM_JOB_NUM_NODES="+strconv.Itoa(nodes), "SLURM_NNODES="+strconv.Itoa(nodes),
				"SLURM_NTASKS="+strconv.Itoa(nodes*perNode), "SLURM_NTASKS_PER_NODE="+strconv.Itoa(perNode),
				fmt.Sprintf("SLURM_TASKS_PER_NODE=%d(x%d)", perNode, nodes),
				"SLURM_CPUS_PER_TASK="+sbatchOption(string(src), "cpus-per-task"),
				"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0",
			)
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
			}
			seen := map[int]Env{}
			var token string
			for _, m := range regexp.MustCompile(`(?m)ENV (\{.*\}) OMP=(\S*) ARGS=(.*)$`).FindAllStringSubmatch(string(out), -1) {
				var e Env
				if err := json.Unmarshal([]byte(m[1]), &e); err != nil {
					t.Fatal(err)
				}
				if _, dup := seen[e.Rank]; dup {
					t.Fatalf("rank %d started twice", e.Rank)
				}
				seen[e.Rank] = e
				if token == "" {
					token = e.Token
				}
				want := Env{Rank: e.Rank, LocalRank: e.Rank % ranksPerNode, WorldSize: world, LocalWorldSize: ranksPerNode,
					NodeRank: e.Rank / ranksPerNode, MasterAddr: "node07", MasterPort: SLURMPort(jobID), Token: token, Source: e.Source}
				if e != want {
					t.Errorf("got  %+v\nwant %+v", e, want)
				}
				if len(token) < 16 {
					t.Errorf("weak token %q", token)
				}
				wantArgs := "train --steps 5"
				if strings.Contains(filepath.Base(path), "gpu") {
					wantArgs = "train --device cuda --steps 5" // GPU scripts put each rank on its GPU
				}
				if m[2] == "" || m[3] != wantArgs {
					t.Errorf("rank %d: OMP_NUM_THREADS=%q, args %q", e.Rank, m[2], m[3])
				}
			}
			if len(seen) != world {
				t.Fatalf("%d of %d ranks reported:\n%s", len(seen), world, out)
			}
			t.Logf("%d nodes x %d ranks, via %s", nodes, ranksPerNode, seen[0].Source)
		})
	}
}
