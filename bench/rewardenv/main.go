// Command rewardenv serves the Unified-GRPO environment of the world (training scenes and the Go
// decoder + embedder reward, package worldtask) to the PyTorch side of `make bench`, so that both trainers
// see the same scenes and the same reward function.
//
// It reads one JSON request per line on stdin and writes one JSON reply per line on stdout:
//
//	{"op":"scenes","seed":1,"step":3,"batch":8}
//	-> {"C":3,"H":32,"W":32,"pix":[[...], ...]}       one row of C*H*W values in [0, 1] per scene
//	{"op":"rewards","seed":1,"step":3,"batch":8,"group":8,"tokens":[[...], ...]}
//	-> {"rewards":[...]}                                one per caption, row b*G+g for scene b
//
// The scenes and the decoder's random streams are keyed exactly as `trainer train` keys them
// on one rank (worldtask.Source.Images and worldtask.Reward.Rewards). A bad request gets
// {"error":"..."} and the server goes on.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

type request struct {
	Op     string  `json:"op"`
	Seed   uint64  `json:"seed"`
	Step   int     `json:"step"`
	Batch  int     `json:"batch"`
	Group  int     `json:"group"`
	Tokens [][]int `json:"tokens"`
}

type sceneReply struct {
	C   int         `json:"C"`
	H   int         `json:"H"`
	W   int         `json:"W"`
	Pix [][]float32 `json:"pix"`
}

type rewardReply struct {
	Rewards []float64 `json:"rewards"`
}

type errorReply struct {
	Error string `json:"error"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: rewardenv < requests.jsonl (see the package comment); it takes no arguments")
		os.Exit(2)
	}
	wc := world.DefaultConfig()
	rw, err := task.NewReward(wc, "all")
	if err != nil {
		fmt.Fprintln(os.Stderr, "rewardenv:", err)
		os.Exit(1)
	}
	if err := serve(env{task.Source{World: wc}, rw}, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rewardenv:", err)
		os.Exit(1)
	}
}

// env is the world's training scenes and reward.
type env struct {
	src    task.Source
	reward *task.Reward
}

// serve answers requests from r on w until r ends.
func serve(env env, r io.Reader, w io.Writer) error {
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(w)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		var reply any
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			reply = errorReply{fmt.Sprintf("bad request: %v", err)}
		} else if rep, err := answer(env, req); err != nil {
			reply = errorReply{err.Error()}
		} else {
			reply = rep
		}
		if err := enc.Encode(reply); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	return nil
}

func answer(env env, req request) (any, error) {
	if req.Op != "scenes" && req.Op != "rewards" {
		return nil, fmt.Errorf("unknown op %q: use scenes or rewards", req.Op)
	}
	if req.Batch < 1 || req.Step < 0 {
		return nil, fmt.Errorf("%s: batch must be at least 1 and step not negative (got batch %d, step %d)", req.Op, req.Batch, req.Step)
	}
	images, _ := env.src.Images(req.Seed, req.Step, 0, req.Batch)
	if req.Op == "scenes" {
		rep := sceneReply{C: images[0].C, H: images[0].H, W: images[0].W}
		for _, im := range images {
			rep.Pix = append(rep.Pix, im.Pix)
		}
		return rep, nil
	}
	if req.Group < 1 || len(req.Tokens) != req.Batch*req.Group {
		return nil, fmt.Errorf("rewards: %d captions for batch %d x group %d; send one per row", len(req.Tokens), req.Batch, req.Group)
	}
	vocab := world.NewVocab()
	V := vocab.V()
	for r, caption := range req.Tokens {
		for t, id := range caption {
			if id < 0 || id >= V {
				return nil, fmt.Errorf("rewards: caption %d token %d is id %d, outside the vocabulary [0, %d)", r, t, id, V)
			}
		}
	}
	texts := make([]string, len(req.Tokens))
	for r, caption := range req.Tokens {
		texts[r] = vocab.Decode(caption)
	}
	rewards, _, err := env.reward.Rewards(images, req.Group, texts, stream.Keys(req.Seed, stream.Decode, req.Step, 0, len(texts)))
	if err != nil {
		return nil, err
	}
	return rewardReply{rewards}, nil
}
