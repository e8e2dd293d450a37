package launch

import (
	"strings"
	"testing"
)

// vars turns "K=V" pairs into a lookup function.
func vars(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestFromLookupLaunchVars(t *testing.T) {
	e, err := FromLookup(vars("RANK=5", "LOCAL_RANK=1", "WORLD_SIZE=8", "LOCAL_WORLD_SIZE=4", "NODE_RANK=1",
		"MASTER_ADDR=n1", "MASTER_PORT=29400", "UNIGRPO_JOB_TOKEN=tok", "UNIGRPO_RESTART_COUNT=2",
		"SLURM_PROCID=0", "SLURM_NTASKS=2")) // launch's variables win over SLURM's
	if err != nil {
		t.Fatal(err)
	}
	want := Env{Rank: 5, LocalRank: 1, WorldSize: 8, LocalWorldSize: 4, NodeRank: 1, MasterAddr: "n1", MasterPort: 29400,
		Token: "tok", RestartCount: 2, Source: SourceLaunch}
	if e != want {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
	// torchrun's GROUP_RANK and the defaults.
	e, err = FromLookup(vars("RANK=1", "WORLD_SIZE=2", "GROUP_RANK=3", "MASTER_ADDR=h", "MASTER_PORT=1", "UNIGRPO_JOB_TOKEN=t"))
	if err != nil {
		t.Fatal(err)
	}
	if e.LocalRank != 1 || e.LocalWorldSize != 2 || e.NodeRank != 3 {
		t.Fatalf("defaults: %+v", e)
	}
}

func TestFromLookupSLURM(t *testing.T) {
	base := []string{"SLURM_PROCID=11", "SLURM_LOCALID=3", "SLURM_NTASKS=16", "SLURM_NODEID=1", "SLURM_NNODES=2",
		"SLURM_JOB_ID=123456", "SLURM_JOB_NODELIST=gpu[07-08]", "SLURM_STEP_NODELIST=gpu[08-09]"}
	e, err := FromLookup(vars(append(base, "SLURM_STEP_TASKS_PER_NODE=8(x2)")...))
	if err != nil {
		t.Fatal(err)
	}
	want := Env{Rank: 11, LocalRank: 3, WorldSize: 16, LocalWorldSize: 8, NodeRank: 1, MasterAddr: "gpu08",
		MasterPort: 15000 + 123456%10000, Token: SLURMToken("123456", ""), Source: SourceSLURM}
	if e != want {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
	// Explicit MASTER_ADDR/MASTER_PORT/token win; uneven tasks per node.
	e, err = FromLookup(vars(append(base[:5:5], "SLURM_JOB_ID=1", "SLURM_TASKS_PER_NODE=12,4", "MASTER_ADDR=head",
		"MASTER_PORT=2000", "UNIGRPO_JOB_TOKEN=mine")...))
	if err != nil {
		t.Fatal(err)
	}
	if e.MasterAddr != "head" || e.MasterPort != 2000 || e.Token != "mine" || e.LocalWorldSize != 4 {
		t.Fatalf("overrides: %+v", e)
	}
	// The secret changes the derived token.
	if SLURMToken("1", "") == SLURMToken("1", "s") || SLURMToken("1", "") == SLURMToken("2", "") {
		t.Fatal("derived tokens do not depend on the job id and secret")
	}
	e, err = FromLookup(vars(append(base, "UNIGRPO_SECRET=s")...))
	if err != nil || e.Token != SLURMToken("123456", "s") {
		t.Fatalf("secret: %+v %v", e, err)
	}
	// No tasks-per-node variable: divide evenly.
	e, err = FromLookup(vars(base...))
	if err != nil || e.LocalWorldSize != 8 {
		t.Fatalf("even split: %+v %v", e, err)
	}
}

func TestFromLookupSingle(t *testing.T) {
	e, err := FromLookup(vars())
	if err != nil {
		t.Fatal(err)
	}
	if e != (Env{WorldSize: 1, LocalWorldSize: 1, Source: SourceSingle}) {
		t.Fatalf("got %+v", e)
	}
	// One task under srun needs no master.
	if _, err := FromLookup(vars("SLURM_PROCID=0", "SLURM_NTASKS=1")); err != nil {
		t.Fatal(err)
	}
}

func TestFromLookupErrors(t *testing.T) {
	ok := []string{"MASTER_ADDR=h", "MASTER_PORT=1234", "UNIGRPO_JOB_TOKEN=t"}
	for _, c := range []struct {
		vars []string
		want string
	}{
		{[]string{"RANK=2", "WORLD_SIZE=2"}, "RANK=2 is not a rank of a world of WORLD_SIZE=2"},
		{[]string{"RANK=x", "WORLD_SIZE=2"}, `RANK="x" is not a non-negative integer`},
		{[]string{"RANK=-1", "WORLD_SIZE=2"}, `RANK="-1"`},
		{[]string{"WORLD_SIZE=2"}, "RANK is not set"},
		{[]string{"RANK=0", "WORLD_SIZE=0"}, "at least one process"},
		{[]string{"RANK=0", "WORLD_SIZE=4", "LOCAL_RANK=2", "LOCAL_WORLD_SIZE=2"}, "LOCAL_RANK=2 is not a local rank"},
		{[]string{"RANK=0", "WORLD_SIZE=2", "LOCAL_WORLD_SIZE=3"}, "LOCAL_WORLD_SIZE=3 must be in 1..WORLD_SIZE=2"},
		{[]string{"RANK=0", "WORLD_SIZE=2", "MASTER_PORT=99999"}, "MASTER_PORT=99999"},
		{[]string{"RANK=0", "WORLD_SIZE=2", "MASTER_PORT=abc"}, `MASTER_PORT="abc"`},
		{[]string{"RANK=0", "WORLD_SIZE=2", "UNIGRPO_RESTART_COUNT=z"}, "UNIGRPO_RESTART_COUNT"},
		{[]string{"SLURM_PROCID=3", "SLURM_NTASKS=2", "SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=a"}, "SLURM_PROCID=3 is not a rank"},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=a[1-"}, "hostlist"},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_JOB_NODELIST=a"}, "neither MASTER_PORT nor SLURM_JOB_ID"},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_JOB_ID=1"}, "SLURM_STEP_NODELIST"},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=3", "SLURM_NNODES=2", "SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=a"}, "not a multiple"},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_NODEID=2", "SLURM_TASKS_PER_NODE=1(x2)", "SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=a"}, "lists only 2 nodes"},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_TASKS_PER_NODE=2(y2)", "SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=a"}, "N(xM)"},
	} {
		withDefaults := c.vars
		if !strings.HasPrefix(c.vars[0], "SLURM") { // later entries override
			withDefaults = append(append([]string{}, ok...), c.vars...)
		}
		_, err := FromLookup(vars(withDefaults...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.vars, err, c.want)
		}
	}
	// A multi-rank job without master or token.
	for _, c := range [][]string{
		{"RANK=0", "WORLD_SIZE=2", "MASTER_PORT=1", "UNIGRPO_JOB_TOKEN=t"},
		{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "UNIGRPO_JOB_TOKEN=t"},
		{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=1"},
	} {
		if _, err := FromLookup(vars(c...)); err == nil {
			t.Errorf("%v: accepted an incomplete multi-process environment", c)
		}
	}
}
