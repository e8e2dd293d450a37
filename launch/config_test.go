package launch

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	c, err := ParseArgs([]string{"-np", "4", "--grace=2s", "--max-restarts", "3", "--log-dir", "/tmp/l",
		"bin/trainer", "train", "-np", "7", "--grace", "x"}, vars(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NProcs != 4 || c.Grace != 2*time.Second || c.MaxRestarts != 3 || c.LogDir != "/tmp/l" || c.NNodes != 1 ||
		c.MasterAddr != "127.0.0.1" || c.MasterPort != 0 || len(c.Token) != 32 {
		t.Fatalf("parsed %+v", c)
	}
	if c.Program != "bin/trainer" || !slices.Equal(c.Args, []string{"train", "-np", "7", "--grace", "x"}) {
		t.Fatalf("program %q args %q: the program's own flags must pass through", c.Program, c.Args)
	}
	c, err = ParseArgs([]string{"-np=2", "--", "prog", "--help"}, vars(), nil)
	if err != nil || c.NProcs != 2 || c.Program != "prog" || !slices.Equal(c.Args, []string{"--help"}) {
		t.Fatalf("-np=2 -- prog --help: %+v %v", c, err)
	}
	// Two single-node launches get different random tokens.
	c2, _ := ParseArgs([]string{"prog"}, vars(), nil)
	if c2.Token == c.Token {
		t.Fatal("random tokens repeat")
	}
}

func TestParseArgsMultiNode(t *testing.T) {
	c, err := ParseArgs([]string{"-np", "8", "--nnodes", "2", "--node-rank", "1", "--master-addr", "n0",
		"--master-port", "29400", "--token", "s3cret", "prog"}, vars(), nil)
	if err != nil || c.WorldSize() != 16 || c.NodeRank != 1 || c.MasterAddr != "n0" || c.MasterPort != 29400 || c.Token != "s3cret" {
		t.Fatalf("%+v %v", c, err)
	}
	// From the environment instead of flags.
	c, err = ParseArgs([]string{"--nnodes", "2", "prog"}, vars("MASTER_ADDR=n0", "MASTER_PORT=1234", "UNIGRPO_JOB_TOKEN=t"), nil)
	if err != nil || c.MasterAddr != "n0" || c.MasterPort != 1234 || c.Token != "t" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestParseArgsUnderSrun(t *testing.T) {
	slurm := []string{"SLURM_PROCID=1", "SLURM_NODEID=1", "SLURM_NNODES=2", "SLURM_NTASKS=2", "SLURM_JOB_ID=4321",
		"SLURM_STEP_NODELIST=gpu[03-04]", "SLURM_JOB_NODELIST=gpu[03-04]"}
	c, err := ParseArgs([]string{"-np", "8", "prog"}, vars(slurm...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NNodes != 2 || c.NodeRank != 1 || c.MasterAddr != "gpu03" || c.MasterPort != SLURMPort(4321) || c.Token != SLURMToken("4321", "") {
		t.Fatalf("%+v", c)
	}
	// Flags win over SLURM.
	c, err = ParseArgs([]string{"--nnodes", "1", "prog"}, vars(slurm...), nil)
	if err != nil || c.NNodes != 1 || c.MasterAddr != "127.0.0.1" || c.Token == SLURMToken("4321", "") {
		t.Fatalf("%+v %v", c, err)
	}
	// srun started one launch per task instead of one per node.
	bad := append(slices.Clone(slurm), "SLURM_NTASKS=16")
	if _, err := ParseArgs([]string{"prog"}, vars(bad...), nil); err == nil || !strings.Contains(err.Error(), "--ntasks-per-node=1") {
		t.Fatalf("16 tasks on 2 nodes: %v", err)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no program"},
		{[]string{"-np", "2"}, "no program"},
		{[]string{"-np", "0", "p"}, "--np 0"},
		{[]string{"-np", "two", "p"}, "invalid argument"},
		{[]string{"--bogus", "p"}, "unknown flag: --bogus"},
		{[]string{"--nnodes", "2", "--node-rank", "2", "p"}, "--node-rank 2 is not a node of --nnodes 2"},
		{[]string{"--nnodes", "2", "p"}, "needs --master-addr"},
		{[]string{"--nnodes", "2", "--master-addr", "h", "p"}, "needs --master-port"},
		{[]string{"--nnodes", "2", "--master-addr", "h", "--master-port", "5", "p"}, "needs --token"},
		{[]string{"--master-port", "70000", "p"}, "--master-port 70000"},
		{[]string{"--grace", "-1s", "p"}, "negative"},
		{[]string{"--max-restarts", "-1", "p"}, "negative"},
	} {
		_, err := ParseArgs(c.args, vars(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.args, err, c.want)
		}
	}
}

func TestParseArgsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseArgs([]string{"--help"}, vars(), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("got %v", err)
	}
	for _, flag := range []string{"--np", "--nnodes", "--node-rank", "--master-addr", "--master-port", "--token",
		"--grace", "(default 5s)", "--log-dir", "--max-restarts"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}
