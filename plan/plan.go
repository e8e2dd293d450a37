package plan

import (
	"fmt"
	"strings"
)

// Phases of a step: what is resident all the time, and what each phase adds on top of it (the
// phases follow one another, so a peak is the resident bytes plus the largest phase).
const (
	Resident = "resident" // weights, reference, optimizer state, gradient buffers
	Start    = "start"    // before step 1: copies to set up and broadcast the optimizer state
	Rollout  = "rollout"  // sampling the captions: key/value cache and the prefill's attention
	Update   = "update"   // forward and backward of one micro-batch: activations
	StepOpt  = "step"     // the optimizer's update: its temporaries
)

// Bases of a row's figure.
const (
	Counted  = "counted"  // from the tensors' shapes; equal to what the loaders and stepper allocate
	Code     = "code"     // what the trainer's code allocates, read from it
	Estimate = "estimate" // a formula with approximations (Formulas)
)

// Where a row's bytes live.
const (
	Device = "device"
	Host   = "host"
)

// Row is one item of the plan.
type Row struct {
	Name  string `json:"name"`
	Where string `json:"where"` // device or host (a CPU run has only host)
	Phase string `json:"phase"`
	Bytes int64  `json:"bytes"`
	Basis string `json:"basis"`
	How   string `json:"how"`
}

// Params are the model's parameter counts.
type Params struct {
	Total     int64            `json:"total"`
	Trainable int64            `json:"trainable"`
	Parts     map[string]int64 `json:"parts"`
	Train     []string         `json:"trainable_parts"`
}

// Tokens are the lengths of a sequence.
type Tokens struct {
	Prompt   int   `json:"prompt"`
	Image    int   `json:"image"`
	Caption  int   `json:"caption"`
	Sequence int64 `json:"sequence"`
}

// Plan is the memory of one rank of a run.
type Plan struct {
	Model        string  `json:"model"` // the family and folder
	Input        Input   `json:"input"`
	Params       Params  `json:"params"`
	Tokens       Tokens  `json:"tokens"`
	RowsPerRank  int     `json:"rows_per_rank"`
	MicroBatch   int     `json:"micro_batch"`    // sequences per forward and backward of the update
	RolloutBatch int     `json:"rollout_batch"`  // sequences sampled together (images x --group)
	KVCache      int64   `json:"kv_cache_bytes"` // one copy of the rollout's cache
	Rows         []Row   `json:"rows"`
	Peak         Peak    `json:"peak"`
	Budget       *Budget `json:"budget,omitempty"`
	// Fits says the peaks are within the budget (true without a budget); Over names what is not.
	Fits        bool         `json:"fits"`
	Over        []string     `json:"over,omitempty"`
	Suggestions []Suggestion `json:"suggestions,omitempty"`
}

// Peak is the most memory a rank holds at once: resident bytes plus its largest phase, on the
// GPU and in host memory (a CPU run has only the host's).
type Peak struct {
	Device      int64  `json:"device"`
	Host        int64  `json:"host"`
	DevicePhase string `json:"device_phase,omitempty"` // the phase that sets the device peak
	HostPhase   string `json:"host_phase,omitempty"`
}

// Compute makes the plan of in (no budget: see Check).
func Compute(in Input) (*Plan, error) {
	d, err := in.derive()
	if err != nil {
		return nil, err
	}
	m := in.Model
	p := &Plan{Model: fmt.Sprintf("%s (%s)", m.Family, m.Dir), Input: in, RowsPerRank: d.rows, MicroBatch: d.micro, RolloutBatch: d.rollout,
		Tokens: Tokens{Prompt: d.prompt, Image: d.image, Caption: in.MaxLen, Sequence: d.seq}, Fits: true}
	if p.Input.PromptTokens == 0 {
		p.Input.PromptTokens = d.prompt
	}
	p.Params = Params{Total: m.Count(), Trainable: d.nTrain, Parts: map[string]int64{}, Train: d.trainable}
	for _, t := range m.Tensors {
		p.Params.Parts[t.Part] += t.Numel()
	}
	p.KVCache = kvCache(m.Text, d.rollout, d.seq-1, d.e)
	p.Rows = append(p.Rows, modelRows(in, d)...)
	p.Rows = append(p.Rows, optimizerRows(in, d)...)
	p.Rows = append(p.Rows, phaseRows(in, d, p.KVCache)...)
	p.Peak = peak(p.Rows)
	return p, nil
}

// where is a row's location: the device, or the host for a CPU run.
func (d derived) where(onDevice bool) string {
	if onDevice && d.gpu {
		return Device
	}
	return Host
}

// modelRows are the weights and the reference.
func modelRows(in Input, d derived) []Row {
	m := in.Model
	w := m.Bytes(int(d.e))
	rows := []Row{{Name: "weights", Where: d.where(true), Phase: Resident, Bytes: w, Basis: Counted,
		How: fmt.Sprintf("%s values in %s (float32 where the loader keeps it)", count(m.Count()), dtypeName(d.e))}}
	if in.LoRARank > 0 {
		rows = append(rows, Row{Name: "lora adapters", Where: d.where(true), Phase: Resident, Bytes: d.trainBytes, Basis: Counted,
			How: fmt.Sprintf("%s values in %s: rank %d on %v (the KL reference is the policy with them off: no reference copy)", count(d.nTrain), dtypeName(d.e), in.LoRARank, in.LoRATargets)})
	} else if in.Beta > 0 {
		how := fmt.Sprintf("the frozen KL reference (--beta %g): a second copy of the weights", in.Beta)
		ref := w
		if v := m.Bytes(int(d.e), "vision"); v > 0 {
			if m.Family == "qwen2_5_vl" && !in.TrainVision {
				ref -= v
				how += fmt.Sprintf(" less the vision tower (%s), which it shares with the policy", Human(v))
			} else {
				how += fmt.Sprintf(", its vision tower (%s) included", Human(v))
			}
		}
		rows = append(rows, Row{Name: "reference", Where: d.where(true), Phase: Resident, Bytes: ref, Basis: Counted, How: how})
	}
	return rows
}

// optimizerRows are the masters, the moments and the gradient buffers, where the optimizer
// keeps them (trainer/deviceopt.go with the state on the device, trainer/hostopt.go in Go
// slices). Sharded (trainer/shard.go), the flat vector is padded to W blocks of K = ceil(N/W):
// the buffers hold W*K values, the moments and masters K.
func optimizerRows(in Input, d derived) []Row {
	n, sh := d.nTrain, d.shard
	k := (n + sh - 1) / sh // the values whose state a rank owns
	padded := k * sh
	shard := ""
	if sh > 1 {
		shard = fmt.Sprintf(" / %d ranks (sharded)", sh)
	}
	var rows []Row
	grads := fmt.Sprintf("the parameters' .grad in their dtype %s", Human(d.trainBytes))
	if d.onDevice {
		switch {
		case sh > 1:
			rows = append(rows, Row{"master weights", d.where(true), Resident, 4 * k, Code,
				fmt.Sprintf("float32 x %s trainable%s (a sharded rank keeps its block's masters in float32 runs too)", count(n), shard)})
		case d.mixed:
			rows = append(rows, Row{"master weights", d.where(true), Resident, 4 * n, Code,
				fmt.Sprintf("float32 x %s trainable", count(n))})
		}
		rows = append(rows, Row{"AdamW moments", d.where(true), Resident, 8 * k, Code,
			fmt.Sprintf("2 x float32 x %s trainable%s", count(n), shard)},
			Row{"gradients", d.where(true), Resident, 4*padded + d.trainBytes, Code,
				fmt.Sprintf("the fused float32 buffer %s (it also receives the gathered values) + %s", Human(4*padded), grads)})
		if in.Ranks > 1 && !d.nccl {
			rows = append(rows, Row{"gradient staging", Host, Resident, 4 * padded, Code,
				"a float32 host copy of the gradients for the CPU ring"})
		}
		return rows
	}
	rows = append(rows, Row{"master weights", Host, Resident, 4 * padded, Code,
		fmt.Sprintf("the host optimizer's float32 values x %s (a copy even in float32 runs; whole, written back to the parameters each step)", count(n))},
		Row{"AdamW moments", Host, Resident, 8 * k, Code, fmt.Sprintf("2 x float32 x %s trainable%s", count(n), shard)},
		Row{"gradients (host)", Host, Resident, 4 * padded, Code, "the float32 host buffer that is averaged, clipped and stepped"})
	dev := Row{"gradients", d.where(true), Resident, d.trainBytes, Code, grads}
	if d.nccl {
		dev.Bytes += 4 * padded
		dev.How = fmt.Sprintf("the fused float32 buffer NCCL averages %s + %s", Human(4*padded), grads)
	}
	return append(rows, dev)
}

// phaseRows are the rows of the phases and the CUDA runtime.
func phaseRows(in Input, d derived, kv int64) []Row {
	t := in.Model.Text
	var rows []Row
	if d.gpu {
		rows = append(rows, Row{"CUDA runtime", Device, Resident, runtimeReserve, Estimate, "context, cuBLAS workspace, NCCL buffers, allocator slack (a fixed allowance)"})
	}
	if b, how := startBytes(in, d); b > 0 {
		rows = append(rows, Row{"start-up copies", Host, Start, b, Code, how})
	}
	rows = append(rows, Row{"KV cache", d.where(true), Rollout, kv, Counted,
		fmt.Sprintf("%d layers x 2 x %d rows x %d tokens x %d heads x %d x %d B, allocated once and written in place",
			t.Layers, d.rollout, d.seq-1, t.KV, t.Dh, d.e)},
		Row{"prefill attention", d.where(true), Rollout, prefill(t, d), Estimate,
			fmt.Sprintf("one layer's scores of %d prefill rows over the %d-token prompt", d.prefill, d.prompt+d.image)},
		Row{"activations", d.where(true), Update, activations(t, d, in.ActivationCheckpointing), Estimate, activationHow(d, in.ActivationCheckpointing)})
	if d.onDevice {
		piece := min(updateChunk, (d.nTrain+d.shard-1)/d.shard)
		rows = append(rows, Row{"optimizer temporaries", d.where(true), StepOpt, 16 * piece, Code,
			fmt.Sprintf("four float32 vectors of one piece of the update, at most %s values (trainer/deviceopt.go updateChunk)", count(updateChunk))})
	}
	return rows
}

// updateChunk is trainer/deviceopt.go's bound on the values the device update works on at once.
const updateChunk = 1 << 24

// runtimeReserve is the allowance for the CUDA runtime outside the tensors.
const runtimeReserve = 1 << 30

// startBytes is what the device optimizer copies to the host before step 1
// (trainer/deviceopt_state.go syncFromRank0): replicated on several ranks, rank 0's values,
// moments (and masters) broadcast through the host plus the CPU tensor each copy back goes
// through; sharded without NCCL, the gathered values' copy back. The masters are read from the
// parameters on the device; the host optimizer broadcasts its resident slices in place.
func startBytes(in Input, d derived) (int64, string) {
	if !d.onDevice || in.Ranks == 1 {
		return 0, ""
	}
	n := d.nTrain
	switch {
	case d.shard > 1 && d.nccl:
		return 0, ""
	case d.shard > 1:
		return 4 * n, "the gathered values copied back from the host: float32 x trainable"
	case d.mixed:
		return 20 * n, "values, moments and masters broadcast from rank 0 through the host, and the copy back: 5 x float32 x trainable"
	}
	return 16 * n, "values and moments broadcast from rank 0 through the host, and the copy back: 4 x float32 x trainable"
}

// peak adds up the rows: resident bytes plus the largest phase, per location.
func peak(rows []Row) Peak {
	res := map[string]int64{}
	phase := map[string]map[string]int64{Device: {}, Host: {}}
	for _, r := range rows {
		if r.Phase == Resident {
			res[r.Where] += r.Bytes
		} else {
			phase[r.Where][r.Phase] += r.Bytes
		}
	}
	var p Peak
	for _, loc := range []string{Device, Host} {
		top, name := int64(0), ""
		for _, ph := range []string{Start, Rollout, Update, StepOpt} {
			if b := phase[loc][ph]; b > top {
				top, name = b, ph
			}
		}
		if loc == Device {
			p.Device, p.DevicePhase = res[loc]+top, name
		} else {
			p.Host, p.HostPhase = res[loc]+top, name
		}
	}
	return p
}

// Row returns the bytes of the rows of a name (0 when there is none).
func (p *Plan) Row(name string) int64 {
	var n int64
	for _, r := range p.Rows {
		if r.Name == name {
			n += r.Bytes
		}
	}
	return n
}

// dtypeName names a run's dtype by its width.
func dtypeName(e int64) string {
	if e == 2 {
		return "bfloat16"
	}
	return "float32"
}

// count writes a number of values in B or M.
func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	}
	return fmt.Sprint(n)
}

// Human writes bytes in GiB, MiB or KiB.
func Human(b int64) string {
	f := float64(b)
	switch {
	case f >= 1<<30:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// flags lists the knobs of in that differ from their defaults, as command-line flags.
func flags(in Input) string {
	var fs []string
	if in.ShardOptimizer {
		fs = append(fs, "--shard-optimizer")
	}
	if in.ActivationCheckpointing {
		fs = append(fs, "--activation-checkpointing")
	}
	if in.MicroBatch > 0 {
		fs = append(fs, fmt.Sprintf("--micro-batch %d", in.MicroBatch))
	}
	if in.RolloutBatch > 0 {
		fs = append(fs, fmt.Sprintf("--rollout-batch %d", in.RolloutBatch))
	}
	return strings.Join(fs, " ")
}
