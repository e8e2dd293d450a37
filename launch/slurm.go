package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// slurmNodeList returns the step's node list (or the job's).
func slurmNodeList(lookup func(string) (string, bool)) (string, bool) {
	for _, name := range []string{"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"} {
		if v, ok := lookup(name); ok && v != "" {
			return v, true
		}
	}
	return "", false
}

// slurmMasterAddr returns MASTER_ADDR if set, else the first node of the
// step's node list.
func slurmMasterAddr(lookup func(string) (string, bool)) (string, error) {
	if v, ok := lookup(EnvMasterAddr); ok && v != "" {
		return v, nil
	}
	list, ok := slurmNodeList(lookup)
	if !ok {
		return "", errors.New("neither MASTER_ADDR nor SLURM_STEP_NODELIST/SLURM_JOB_NODELIST is set")
	}
	hosts, err := ParseHostlist(list)
	if err != nil {
		return "", err
	}
	return hosts[0], nil
}

// slurmMasterPort returns MASTER_PORT if set, else a port derived from the
// job id, so that jobs sharing a node do not collide.
func slurmMasterPort(lookup func(string) (string, bool)) (int, error) {
	if v, ok := lookup(EnvMasterPort); ok && v != "" {
		return parseCount(EnvMasterPort, v)
	}
	id, ok := lookup("SLURM_JOB_ID")
	if !ok {
		return 0, errors.New("neither MASTER_PORT nor SLURM_JOB_ID is set")
	}
	n, err := parseCount("SLURM_JOB_ID", id)
	if err != nil {
		return 0, err
	}
	return SLURMPort(n), nil
}

// SLURMPort is the default rendezvous port of a SLURM job.
func SLURMPort(jobID int) int { return 15000 + jobID%10000 }

// tokenFromEnv returns UNIGRPO_JOB_TOKEN, else a token derived from the
// SLURM job id (mixed with UNIGRPO_SECRET when set), else "".
func tokenFromEnv(lookup func(string) (string, bool)) string {
	if v, ok := lookup(EnvToken); ok && v != "" {
		return v
	}
	if id, ok := lookup("SLURM_JOB_ID"); ok && id != "" {
		secret, _ := lookup(EnvSecret)
		return SLURMToken(id, secret)
	}
	return ""
}

// SLURMToken derives a job token that every task of a SLURM job computes
// alike. Job ids are visible to other users, so set a private secret
// (UNIGRPO_SECRET, or UNIGRPO_JOB_TOKEN directly) on shared clusters.
func SLURMToken(jobID, secret string) string {
	sum := sha256.Sum256([]byte("unigrpo-slurm-token\x00" + jobID + "\x00" + secret))
	return hex.EncodeToString(sum[:16])
}

// slurmTasksOnNode returns the number of tasks on node nodeID from
// SLURM_STEP_TASKS_PER_NODE or SLURM_TASKS_PER_NODE ("8(x2),4" means 8, 8,
// 4), or ntasks/nnodes when those are absent.
func slurmTasksOnNode(lookup func(string) (string, bool), nodeID, ntasks int) (int, error) {
	for _, name := range []string{"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"} {
		v, ok := lookup(name)
		if !ok || v == "" {
			continue
		}
		counts, err := parseTasksPerNode(v)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: %w", name, v, err)
		}
		if nodeID >= len(counts) {
			return 0, fmt.Errorf("SLURM_NODEID=%d but %s=%q lists only %d nodes", nodeID, name, v, len(counts))
		}
		return counts[nodeID], nil
	}
	nnodes, err := optInt(lookup, "SLURM_NNODES", 1)
	if err != nil {
		return 0, err
	}
	if nnodes < 1 || ntasks%nnodes != 0 {
		return 0, fmt.Errorf("cannot tell the tasks per node: SLURM_TASKS_PER_NODE is unset and SLURM_NTASKS=%d is not a multiple of SLURM_NNODES=%d", ntasks, nnodes)
	}
	return ntasks / nnodes, nil
}

// parseTasksPerNode expands SLURM's compressed task counts.
func parseTasksPerNode(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		count, rep := part, "1"
		if i := strings.IndexByte(part, '('); i >= 0 {
			if !strings.HasPrefix(part[i:], "(x") || !strings.HasSuffix(part, ")") {
				return nil, fmt.Errorf("bad item %q (want N or N(xM))", part)
			}
			count, rep = part[:i], part[i+2:len(part)-1]
		}
		c, err1 := strconv.Atoi(count)
		r, err2 := strconv.Atoi(rep)
		if err1 != nil || err2 != nil || c < 1 || r < 1 || r > maxHosts || len(out)+r > maxHosts {
			return nil, fmt.Errorf("bad item %q (want N or N(xM))", part)
		}
		for range r {
			out = append(out, c)
		}
	}
	return out, nil
}
