package main

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/hf/shape"
	"github.com/unigrpo/unigrpo/plan"
	"github.com/unigrpo/unigrpo/trainer"
)

// Oracle: the adapters the LoRA loader allocates and trainer.NewFlat's count of what trains. For
// qwen2, llama and qwen2_5_vl (its language model's adapters) in float32 and bfloat16 with a KL
// term, the plan of a LoRA run trains NewFlat's N values, keeps AdamW moments for those only,
// counts the adapters' bytes and their .grad, has masters exactly when NewFlat says the run is
// mixed, and no reference copy.
func TestPlanCountsLoRA(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range []struct{ family, dtype, targets string }{
		{"qwen2", "float32", "q_proj,k_proj,v_proj,o_proj"}, {"qwen2", "bfloat16", "q_proj,v_proj,gate_proj,down_proj"},
		{"llama", "bfloat16", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"},
		{"qwen2_5_vl", "float32", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"},
		{"qwen2_5_vl", "bfloat16", "q_proj,v_proj"},
	} {
		dir := filepath.Join(fixtures, c.family)
		cfg := defaultTrainConfig()
		cfg.DType, cfg.Batch, cfg.Group, cfg.Beta = c.dtype, 1, 2, 0.1
		cfg.loraSettings = loraSettings{LoRARank: 4, LoRATargets: c.targets}
		lora, err := cfg.loraSettings.config()
		if err != nil {
			t.Fatal(err)
		}
		kind, _ := parseDType(c.dtype)
		var load func(string, gotch.Device, trainer.LoadOptions) (trainer.Policy, error)
		if c.family == "qwen2_5_vl" {
			side, err := policyImageSize(cfg, dir, c.family)
			if err != nil {
				t.Fatal(err)
			}
			load = qwenVLLoader("Describe the scene.", kind, side, 8, lora, 1)
		} else {
			h, err := openHFText(dir, "Describe the scene.", false)
			if err != nil {
				t.Fatal(err)
			}
			load = hfPolicyLoader(h, kind, 8, lora, 1)
		}
		p, err := load(dir, gotch.CPU, trainer.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		flat := trainer.NewFlat(p.TrainableParams(), gotch.CPU)
		m, err := shape.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		in, err := planInput(cfg, m, 1, false, "device", planKnobs{})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := plan.Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		name := c.family + " " + c.dtype
		if pl.Params.Trainable != int64(flat.N) {
			t.Errorf("%s: plan trains %d values, NewFlat %d", name, pl.Params.Trainable, flat.N)
		}
		if got := pl.Row("AdamW moments"); got != 8*int64(flat.N) {
			t.Errorf("%s: moments %d bytes, want 2 x float32 x %d", name, got, flat.N)
		}
		if got, want := pl.Row("lora adapters"), paramBytes(p.TrainableParams()); got != want {
			t.Errorf("%s: plan's adapters %d bytes, the loader's %d", name, got, want)
		}
		if got, want := pl.Row("gradients")-4*int64(flat.N), paramBytes(p.TrainableParams()); got != want {
			t.Errorf("%s: plan's .grad %d bytes, the adapters %d", name, got, want)
		}
		if (pl.Row("master weights") > 0) != flat.Mixed() {
			t.Errorf("%s: masters %d bytes, NewFlat mixed %v", name, pl.Row("master weights"), flat.Mixed())
		}
		if pl.Row("reference") != 0 {
			t.Errorf("%s: a LoRA run plans a reference copy of %d bytes", name, pl.Row("reference"))
		}
		p.Close()
	}
}
