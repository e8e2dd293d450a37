package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/unigrpo/unigrpo/models/hf/shape"
	"github.com/unigrpo/unigrpo/monitor"
)

const gib = 1 << 30

func model(t *testing.T, name string) *shape.Model {
	t.Helper()
	m, err := shape.Read(filepath.Join("..", "models", "hf", "shape", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// qwen3B is the paper's UMM-1 run on 8 GPUs: 1 image x 8 captions per rank at 448 px.
func qwen3B(t *testing.T) Input {
	return Input{Model: model(t, "qwen2_5_vl_3b"), Ranks: 8, Batch: 8, Group: 8, MaxLen: 64, ImageSize: 448,
		DType: "bfloat16", Beta: 0.2, Device: "cuda"}
}

func compute(t *testing.T, in Input) *Plan {
	t.Helper()
	p, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Oracle: the trainer's allocations, counted by hand from trainer/deviceopt.go, devicegrads.go
// and shard.go for Qwen2.5-VL-3B's 3,085,938,688 trainable values (the language model; shape's
// count, checked against the published size in models/hf/shape): bfloat16 weights and .grad,
// float32 masters, two moments and the fused buffer (padded to 8 equal blocks when sharded: n is
// a multiple of 8 here), four float32 temporaries of one piece of at most 2^24 values in the
// step; sharding divides the masters and moments by the ranks and gathers the values through
// NCCL on the device (no start-up copy). The KL reference shares the frozen vision tower.
func TestOptimizerRowsByHand(t *testing.T) {
	const n = 3085938688
	in := qwen3B(t)
	vision := in.Model.Bytes(2, "vision")
	for _, shard := range []bool{false, true} {
		in.ShardOptimizer = shard
		p := compute(t, in)
		k, start := int64(1), int64(20*n)
		if shard {
			k, start = 8, 0
		}
		for _, c := range []struct {
			row  string
			want int64
		}{{"master weights", 4 * n / k}, {"AdamW moments", 8 * n / k}, {"gradients", 4*n + 2*n}, {"optimizer temporaries", 16 << 24},
			{"reference", p.Row("weights") - vision}, {"start-up copies", start}} {
			if got := p.Row(c.row); got != c.want {
				t.Errorf("shard %v: %s %d bytes, want %d", shard, c.row, got, c.want)
			}
		}
		if p.Params.Trainable != n {
			t.Errorf("trainable %d, want %d", p.Params.Trainable, n)
		}
	}
	// float32 on one rank: no masters, no start-up copies; the host optimizer keeps its values,
	// grads and moments in host memory and only the .grad on the device.
	in = qwen3B(t)
	in.DType, in.Ranks, in.Batch = "float32", 1, 1
	p := compute(t, in)
	if p.Row("master weights") != 0 || p.Row("start-up copies") != 0 || p.Row("gradients") != 8*n {
		t.Errorf("float32, one rank: masters %d, start-up %d, gradients %d", p.Row("master weights"), p.Row("start-up copies"), p.Row("gradients"))
	}
	in.Optimizer = "host"
	p = compute(t, in)
	for _, r := range p.Rows {
		want := Host
		switch r.Name {
		case "weights", "reference", "gradients", "CUDA runtime", "KV cache", "prefill attention", "activations":
			want = Device
		}
		if r.Where != want {
			t.Errorf("--optimizer host: %s in %s, want %s", r.Name, r.Where, want)
		}
	}
	if p.Row("gradients") != 4*n || p.Row("gradients (host)") != 4*n || p.Row("master weights") != 4*n {
		t.Errorf("--optimizer host: gradients %d on the device, %d on the host, masters %d", p.Row("gradients"), p.Row("gradients (host)"), p.Row("master weights"))
	}
}

// Oracle: the definition of the peak, summed by hand from the rows: resident bytes plus the
// largest of the phases, per location.
func TestPeakIsResidentPlusLargestPhase(t *testing.T) {
	p := compute(t, qwen3B(t))
	res, phases := int64(0), map[string]int64{}
	for _, r := range p.Rows {
		if r.Where != Device {
			continue
		}
		if r.Phase == Resident {
			res += r.Bytes
		} else {
			phases[r.Phase] += r.Bytes
		}
	}
	top := max(phases[Rollout], phases[Update], phases[StepOpt])
	if p.Peak.Device != res+top || phases[p.Peak.DevicePhase] != top {
		t.Errorf("device peak %d at %s, want %d + %d", p.Peak.Device, p.Peak.DevicePhase, res, top)
	}
}

// Oracle: Compute itself on the changed flags. An over-budget run gets the knobs that bring it
// under, each with the plan of the changed run, whose peak is under the budget; the micro-batch
// suggested is the largest that fits (twice it does not).
func TestSuggestionsBringItUnder(t *testing.T) {
	b := Budget{Device: 80e9, DeviceFrom: "test"}
	// Replicated optimizer: sharding alone fits.
	p := compute(t, qwen3B(t))
	Suggest(p, b)
	if p.Fits {
		t.Fatalf("device peak %s fits 80 GB; the test wants a run over it", Human(p.Peak.Device))
	}
	checkSuggestion(t, p, b, "shard", "--shard-optimizer")
	// Sharded, 4 images a rank: the update's activations set the peak; checkpointing alone fits,
	// and a smaller micro-batch does.
	in := qwen3B(t)
	in.ShardOptimizer, in.Batch = true, 32
	p = compute(t, in)
	Suggest(p, b)
	if p.Fits || p.Peak.DevicePhase != Update {
		t.Fatalf("device peak %s at %s; the test wants a run over 80 GB in the update", Human(p.Peak.Device), p.Peak.DevicePhase)
	}
	checkSuggestion(t, p, b, "checkpointing", "--activation-checkpointing")
	s := checkSuggestion(t, p, b, "micro-batch", "--micro-batch ")
	// The suggestion is one trainer train takes, and the next one above it does not fit.
	next := s.Plan.Input
	if !validMicro(next.MicroBatch, next.Group) {
		t.Errorf("--micro-batch %d with --group %d: trainer train refuses it", next.MicroBatch, next.Group)
	}
	for next.MicroBatch++; !validMicro(next.MicroBatch, next.Group); next.MicroBatch++ {
	}
	q := compute(t, next)
	q.Check(b)
	if q.Fits {
		t.Errorf("--micro-batch %d fits too: the suggestion is not the largest", next.MicroBatch)
	}
	// A plan that fits gets no suggestion.
	in.ActivationCheckpointing = true
	p = compute(t, in)
	if Suggest(p, b); !p.Fits || len(p.Suggestions) > 0 {
		t.Errorf("a run of %s in 80 GB: fits %v, %d suggestions", Human(p.Peak.Device), p.Fits, len(p.Suggestions))
	}
}

// checkSuggestion finds the suggestion of a knob, checks that it fits and that its plan is
// Compute's for its input, and returns it.
func checkSuggestion(t *testing.T, p *Plan, b Budget, knob, flag string) Suggestion {
	t.Helper()
	for _, s := range p.Suggestions {
		if s.Knob != knob {
			continue
		}
		q := compute(t, s.Plan.Input)
		if !s.Fits || !strings.HasPrefix(s.Flags, flag) || q.Peak != s.Plan.Peak || q.Peak.Device > b.Device {
			t.Errorf("%s: %q fits %v, peak %s (recomputed %s) for a budget of %s", knob, s.Flags, s.Fits, Human(s.Plan.Peak.Device), Human(q.Peak.Device), Human(b.Device))
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil || !strings.Contains(buf.String(), s.Flags) {
			t.Errorf("the table does not name %q (%v):\n%s", s.Flags, err, buf.String())
		}
		return s
	}
	t.Fatalf("no %s suggestion among %+v", knob, p.Suggestions)
	return Suggestion{}
}

// Oracle: Formulas, evaluated by hand for the tiny decoder of the qwen2 fixture. Checkpointing
// keeps each layer's input and one layer's activations instead of all of them; the micro-batch
// scales the activations, the rollout batch the cache.
func TestActivationsAndCacheScale(t *testing.T) {
	dir := filepath.Join("..", "models", "hf", "testdata", "transformers", "qwen2")
	m, err := shape.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Model: m, Ranks: 1, Batch: 2, Group: 4, MaxLen: 10, PromptTokens: 6, DType: "float32", Device: "cpu"}
	// D 64, F 96, H 4, KV 2, Dh 16, L 2, V 384, e 4, S 16, T 10, M 8:
	// a = 2(4+8)64 + 8 + 4(6*64 + 2*32) + 16*96 = 1536 + 8 + 1792 + 1536 = 4872
	// attention 4*4*256 = 4096 a layer; head (4+8)*64*16 + 4*10*384 = 12288 + 15360 = 27648
	// transient 16*384*4 + 4*10*384 = 24576 + 15360 = 39936
	const a, attn, head, tr = 4872, 4096, 27648, 39936
	plain := int64(8 * (2*16*a + 2*attn + head + tr))
	ckpt := int64(8 * (2*16*4*64 + 16*a + attn + head + tr))
	p := compute(t, in)
	if got := p.Row("activations"); got != plain {
		t.Errorf("activations %d, want %d", got, plain)
	}
	in.ActivationCheckpointing = true
	if got := compute(t, in).Row("activations"); got != ckpt {
		t.Errorf("checkpointed activations %d, want %d", got, ckpt)
	}
	in.MicroBatch, in.RolloutBatch = 2, 1 // 2 sequences; 1 image of 4 sequences
	q := compute(t, in)
	if got := q.Row("activations"); got != ckpt/4 {
		t.Errorf("micro-batch 2: activations %d, want %d", got, ckpt/4)
	}
	if q.KVCache*2 != p.KVCache || p.KVCache != int64(2*2*8*15*2*16*4) {
		t.Errorf("KV cache %d with 8 rows, %d with 1 image of 4; want %d (15 cached positions: the last token is not fed) and a half", p.KVCache, q.KVCache, 2*2*8*15*2*16*4)
	}
	// The cache is allocated once and written in place (models/hf/kvcache.go): its row counts it
	// once, and the prefill runs one row per image (2 images of 4 rows, then 1).
	if p.Row("KV cache") != p.KVCache || q.Row("KV cache") != q.KVCache {
		t.Errorf("KV cache rows %d and %d, want the cache once: %d and %d", p.Row("KV cache"), q.Row("KV cache"), p.KVCache, q.KVCache)
	}
	if pf, qf := p.Row("prefill attention"), q.Row("prefill attention"); pf != 2*qf || pf == 0 {
		t.Errorf("prefill attention %d for 2 images, %d for 1; want one prefill row per image", pf, qf)
	}
	in.MicroBatch = 3 // neither a multiple of --group 4 nor a divisor: trainer train refuses it
	if _, err := Compute(in); err == nil || !strings.Contains(err.Error(), "--micro-batch 3") {
		t.Errorf("--micro-batch 3 with --group 4: %v, want an error naming it", err)
	}
}

// Oracle: hand-written sizes.
func TestParseBytes(t *testing.T) {
	for s, want := range map[string]int64{"80GB": 80e9, "80 GB": 80e9, "79.5GiB": 795 * gib / 10, "1024": 1024, "2TB": 2e12, "512MiB": 512 << 20, "3B": 3} {
		if got, err := ParseBytes(s); err != nil || got != want {
			t.Errorf("%q: %d (%v), want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "GB", "-1GB", "eighty", "0"} {
		if _, err := ParseBytes(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// Oracle: a meminfo file written here, and go-nvml's mock of a DGX A100 whose third GPU is set
// to 80 GiB.
func TestBudgetSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(path, []byte("MemTotal:       32000000 kB\nMemFree:  1000 kB\nMemAvailable:   24000000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := HostAvailable(path); err != nil || got != 24000000<<10 {
		t.Errorf("MemAvailable %d (%v), want %d", got, err, 24000000<<10)
	}
	if err := os.WriteFile(path, []byte("MemTotal: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := HostAvailable(path); err == nil || !strings.Contains(err.Error(), "MemAvailable") {
		t.Errorf("a meminfo without MemAvailable: %v", err)
	}
	srv := dgxa100.New()
	dev := srv.Devices[2].(*server.Device)
	dev.MemoryInfo.Total = 80 << 30
	// The other readings of the sampler are not supported by this fake GPU.
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
	dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	dev.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	got, name, err := GPUMemory(2, monitor.Options{NVML: srv, VisibleDevices: "0,1,2,3"})
	if err != nil || got != 80<<30 || name == "" {
		t.Errorf("GPU 2: %d bytes, %q (%v), want %d", got, name, err, int64(80<<30))
	}
	if _, _, err := GPUMemory(0, monitor.Options{NoGPU: true}); err == nil {
		t.Error("no NVML: no error")
	}
}

// Oracle: the settings a run refuses, named as trainer train names them.
func TestInputErrors(t *testing.T) {
	for _, c := range []struct {
		edit func(*Input)
		want string
	}{
		{func(in *Input) { in.Batch = 12 }, "--batch 12"},
		{func(in *Input) { in.DType = "float16" }, "--dtype"},
		{func(in *Input) { in.Device = "tpu" }, "--device"},
		{func(in *Input) { in.Optimizer = "gpu" }, "--optimizer"},
		{func(in *Input) { in.MicroBatch = -1 }, "--micro-batch"},
		{func(in *Input) { in.ImageSize = 0 }, "--image-size"},
	} {
		in := qwen3B(t)
		c.edit(&in)
		if _, err := Compute(in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
}

// Oracle: encoding/json. The JSON output holds the rows, the peaks and each suggestion's plan.
func TestJSON(t *testing.T) {
	p := compute(t, qwen3B(t))
	Suggest(p, Budget{Device: 80e9})
	var buf bytes.Buffer
	if err := p.JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Params      Params
		Rows        []Row
		Peak        Peak
		Fits        bool
		Suggestions []struct {
			Flags string
			Fits  bool
			Plan  struct{ Peak Peak }
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Params.Total != p.Params.Total || len(back.Rows) != len(p.Rows) || back.Peak != p.Peak || back.Fits || len(back.Suggestions) == 0 || back.Suggestions[0].Plan.Peak.Device == 0 {
		t.Errorf("JSON round trip lost something:\n%s", buf.String())
	}
}

// An out-of-memory error of a planned run names the plan's peak and the knobs it has not used;
// other errors pass unchanged. Oracle: the plan's own figures.
func TestExplainOOM(t *testing.T) {
	p := compute(t, qwen3B(t))
	oom := errors.New("step 3: CUDA out of memory. Tried to allocate 2.00 GiB")
	got := p.ExplainOOM(oom).Error()
	for _, want := range []string{oom.Error(), Human(p.Peak.Device), "--shard-optimizer", "--activation-checkpointing", "--micro-batch 4"} {
		if !strings.Contains(got, want) {
			t.Errorf("the explained error lacks %q:\n%s", want, got)
		}
	}
	if !errors.Is(p.ExplainOOM(oom), oom) {
		t.Errorf("the explained error does not wrap the original")
	}
	other := errors.New("step 3: loss is NaN")
	if p.ExplainOOM(other) != other || (*Plan)(nil).ExplainOOM(oom) != oom {
		t.Errorf("a non-OOM error or a nil plan changed the error")
	}
}
