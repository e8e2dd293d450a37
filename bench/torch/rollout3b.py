"""The twin of bench/rolloutbench for the GPU check scripts/gpu/checks/rollout3b.sh:
transformers.generate's rollout of a Qwen2.5-VL policy on the same weights.

B random images of --size px x G samples of exactly --new tokens each (do_sample, temperature 1,
top_k 0, top_p 1, min_new_tokens = max_new_tokens: equal work), as transformers runs it: the
prompt and its image repeated to the N = B*G rows before the prefill (one prefill, and one vision
tower pass, per row), the key/value cache of generate(). With --create the random weights are
made on the device (bench/torch/grpo3b.py's build_model) and saved into --model for the Go side.
Prints one JSON line with the keys of rolloutbench: rollout_tok_s (N*new / the least of
--repeat), prefill_s (a rollout of one token), decode_step_s ((rollout - prefill) / (new-1)).
"""
import argparse
import inspect
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpo3b  # noqa: E402  (build_model, find_class, retrying)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--create", action="store_true")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--size", type=int, default=448)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--prompt", default="Describe the image.")
    a = ap.parse_args()
    import numpy as np
    import torch
    import transformers
    from PIL import Image
    from tokenizers import Tokenizer

    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    model, facts = grpo3b.build_model(transformers, torch, a, dev)
    model.eval()
    cfg = model.config
    B, G, T = a.batch, a.group, a.new
    N = B * G
    rng = np.random.default_rng(a.seed)
    imgs = [Image.fromarray(rng.integers(0, 256, (a.size, a.size, 3), dtype=np.uint8)) for _ in range(B)]
    proc_cls = grpo3b.find_class(transformers, "qwen2_vl", ["Qwen2VLImageProcessorPil", "Qwen2VLImageProcessor"])
    feats = proc_cls.from_pretrained(a.model)(images=imgs, return_tensors="pt")
    pv, grid = feats["pixel_values"], feats["image_grid_thw"].long()
    patches = int(grid[0].prod())
    merge = cfg.vision_config.spatial_merge_size
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    text = ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * (patches // (merge * merge)) + "<|vision_end|>"
            + a.prompt + "<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(text, add_special_tokens=False).ids
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    eos, pad = text_cfg.eos_token_id, text_cfg.pad_token_id
    eos = eos[0] if isinstance(eos, (list, tuple)) else eos
    vision_ids = sorted({i for i in (cfg.image_token_id, getattr(cfg, "video_token_id", None),
                                      getattr(cfg, "vision_start_token_id", None), getattr(cfg, "vision_end_token_id", None))
                         if i is not None})
    prompt = torch.tensor([ids], device=dev).repeat(N, 1)
    pv_rows = pv.to(dev, torch.bfloat16).reshape(B, patches, -1).repeat_interleave(G, 0).reshape(N * patches, -1)
    grid_rows = grid.to(dev).repeat_interleave(G, 0)
    with_types = "mm_token_type_ids" in inspect.signature(model.forward).parameters

    def rollout(n):
        kw = dict(input_ids=prompt, attention_mask=torch.ones_like(prompt), pixel_values=pv_rows, image_grid_thw=grid_rows,
                  do_sample=True, temperature=1.0, top_k=0, top_p=1.0, min_new_tokens=n, max_new_tokens=n,
                  eos_token_id=eos, pad_token_id=pad, use_cache=True, suppress_tokens=vision_ids)
        if with_types:
            kw["mm_token_type_ids"] = (prompt == cfg.image_token_id).long()
        for owner in (model, getattr(model, "model", None)):
            if owner is not None and hasattr(owner, "rope_deltas"):
                owner.rope_deltas = None
        sync()
        t = time.perf_counter()
        with torch.no_grad():
            seq = grpo3b.retrying(lambda: model.generate(**kw))
        sync()
        d = time.perf_counter() - t
        if seq.shape != (N, len(ids) + n):
            sys.exit("rollout3b.py: generate returned %s, want %d rows of %d + %d tokens" % (tuple(seq.shape), N, len(ids), n))
        return d

    rollout(2)  # warm-up
    pre, full = [], []
    for _ in range(a.repeat):
        pre.append(rollout(1))
        full.append(rollout(T))
    r = dict(side="twin", device=a.device, dtype="bfloat16", batch=B, group=G, new=T, size=a.size, rollout_s=full,
             prefill_s=min(pre), torch=torch.__version__, transformers=transformers.__version__,
             attn_implementation=getattr(cfg, "_attn_implementation", None))
    r["decode_step_s"] = (min(full) - r["prefill_s"]) / (T - 1)
    r["rollout_tok_s"] = N * T / min(full)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
