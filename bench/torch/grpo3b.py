"""PyTorch twin of `trainer train` on a Qwen2.5-VL folder, for the GPU kit's 3B benchmark.

scripts/gpu/checks/grpo3b.sh runs it on the GPU host before the Go trainer: with --create it makes
the model of --model's config.json with random weights on the GPU (transformers'
Qwen2_5_VLForConditionalGeneration, bfloat16) and saves it there as safetensors, the folder the Go
side then trains from; then it times GRPO steps of the same shape as the Go run's:

  rollout   model.generate(do_sample=True, min_new_tokens=T, max_new_tokens=T): every caption has
            exactly T tokens, as the Go side's --min-len = --max-len, so both do equal work; top-k
            off, temperature 1, KV cache; the image's special tokens suppressed (see vision_ids)
  reward    a stand-in: normal random numbers (the Go side runs the world's renderer and colour
            embedder on the CPU; the benchmark compares the step time without the reward)
  update    reference log-probs under no_grad (--beta > 0: a frozen bfloat16 copy of the model,
            vision tower included, as the Go trainer loads), then in micro-batches of --micro-batch
            sequences (gradients accumulated): policy log-probs of the T caption tokens in float32
            (logits_to_keep: the head runs over the scored positions only), the clipped-ratio
            + k3-KL loss, seq-mean-token-mean, backward with gradient checkpointing of the decoder
            layers (non-reentrant); then the optimizer
  optimizer mixed precision as the Go trainer's --dtype bfloat16: the model's weights and
            activations are bfloat16; float32 master copies of the trainable weights (the language
            model, the tied embedding/head; the vision tower is frozen) hold persistent float32
            gradient buffers; the bfloat16 gradients are copied into them and freed,
            clip_grad_norm_ runs on the masters, torch.optim.AdamW(fused=True) updates the masters,
            and the bfloat16 weights are copied back from them; linear warmup as the Go trainer's

Each pass encodes each image once and repeats its features for the image's G rows (a wrapper
around the vision tower's forward), as the Go policy does; where that wrapper fails, the tower
encodes every row's copy and the summary says so (vision_once_per_image false).

Every step appends one JSON line to --out with the Go trainer's metric names (step_time,
rollout_time, reward_time, update_time, tokens, samples, ...); --summary gets the run's facts:
parameter counts, prompt length, creation and save times, torch.cuda.max_memory_allocated and
max_memory_reserved over the steps. Needs PyTorch with CUDA, transformers 5 (4.50+ should do),
tokenizers and Pillow.
"""
import argparse
import glob
import inspect
import json
import math
import os
import sys
import time


def log(msg):
    print("grpo3b.py: " + msg, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Qwen2.5-VL folder: config.json, preprocessor_config.json, "
                    "tokenizer.json (and the weights, unless --create)")
    ap.add_argument("--create", action="store_true", help="make random weights for --model's config and save them there")
    ap.add_argument("--images", required=True, help="folder of the source images (PNG); the first --batch are used")
    ap.add_argument("--out", required=True, help="metrics JSON lines to write")
    ap.add_argument("--summary", required=True, help="JSON file of the run's facts to write")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4, help="images per step (B)")
    ap.add_argument("--group", type=int, default=8, help="captions per image (G)")
    ap.add_argument("--new-tokens", type=int, default=64, help="tokens of every caption (T)")
    ap.add_argument("--micro-batch", type=int, default=0, help="sequences per forward and backward of the update (0: all)")
    ap.add_argument("--no-checkpointing", action="store_true", help="keep every layer's activations")
    ap.add_argument("--lr", type=float, default=5e-5)  # the defaults are trainer train's
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--beta", type=float, default=0.2)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--eps-low", type=float, default=0.2)
    ap.add_argument("--eps-high", type=float, default=0.2)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--prompt", default="Describe this image in detail.")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    if a.batch < 1 or a.group < 2 or a.steps < 1 or a.new_tokens < 1:
        sys.exit("grpo3b.py: need --batch >= 1, --group >= 2, --steps >= 1, --new-tokens >= 1")
    n = a.batch * a.group
    if a.micro_batch and (n % a.micro_batch or (a.micro_batch % a.group and a.group % a.micro_batch)):
        sys.exit("grpo3b.py: --micro-batch %d must divide B*G = %d and be a multiple or a divisor of G = %d "
                 "(as trainer train's)" % (a.micro_batch, n, a.group))
    return a


def find_class(transformers, folder, names):
    """The first of names that transformers exports, or finds in its model folder."""
    import importlib
    for name in names:
        cls = getattr(transformers, name, None)
        if cls is not None:
            return cls
        for module in ("image_processing_pil_" + folder, "image_processing_" + folder):
            try:
                return getattr(importlib.import_module("transformers.models.%s.%s" % (folder, module)), name)
            except Exception:
                pass
    raise RuntimeError("transformers has none of " + ", ".join(names))


def build_model(transformers, torch, args, dev):
    """The policy in bfloat16 on dev: made with random weights and saved (--create), or loaded."""
    cls = transformers.Qwen2_5_VLForConditionalGeneration
    facts = {}
    t = time.perf_counter()
    if args.create:
        cfg = transformers.AutoConfig.from_pretrained(args.model)
        torch.manual_seed(args.seed)
        with torch.device(dev):
            model = None
            for kw in ({"dtype": torch.bfloat16}, {"torch_dtype": torch.bfloat16}):  # 5.x, then 4.x's name
                try:
                    model = cls._from_config(cfg, **kw)
                    break
                except TypeError:
                    pass
            if model is None:  # neither keyword: make it under a bfloat16 default
                prev = torch.get_default_dtype()
                torch.set_default_dtype(torch.bfloat16)
                try:
                    model = cls(cfg)
                finally:
                    torch.set_default_dtype(prev)
        model = model.to(dev, torch.bfloat16)
        torch.cuda.synchronize()
        facts["create_s"] = time.perf_counter() - t
        t = time.perf_counter()
        model.save_pretrained(args.model)  # safetensors, sharded as this version does
        facts["save_s"] = time.perf_counter() - t
        facts["saved_files"] = sorted(os.path.basename(p) for p in glob.glob(os.path.join(args.model, "*.safetensors")))
        log("made %s with random weights in %.1fs, saved in %.1fs: %s" % (cls.__name__, facts["create_s"], facts["save_s"],
                                                                           ", ".join(facts["saved_files"])))
    else:
        try:
            model = cls.from_pretrained(args.model, dtype=torch.bfloat16)
        except TypeError:
            model = cls.from_pretrained(args.model, torch_dtype=torch.bfloat16)
        model = model.to(dev)
        facts["load_s"] = time.perf_counter() - t
    return model, facts


class OncePerImage:
    """Wraps a vision tower's forward: the N rows of a pass show each image to `g` consecutive rows,
    so the tower encodes every g-th image and each output repeats for its g rows (what the Go
    policy does). Any failure falls back to encoding every row's copy, once and for all."""

    def __init__(self, torch, visual, patches_per_image):
        self.torch, self.visual, self.p = torch, visual, patches_per_image
        self.orig = visual.forward
        self.g = 1
        self.ok = True
        self.error = ""
        visual.forward = self

    def __call__(self, *args, **kw):
        torch = self.torch
        if not self.ok or self.g <= 1:
            return self.orig(*args, **kw)
        try:
            args = list(args)
            hs = kw.pop("hidden_states") if "hidden_states" in kw else args.pop(0)
            grid = kw.pop("grid_thw") if "grid_thw" in kw else args.pop(0)
            n = grid.shape[0]
            if n % self.g or hs.shape[0] != n * self.p:
                raise ValueError("%d images of %d patch rows, want a multiple of %d images of %d" % (n, hs.shape[0], self.g, self.p))
            u = n // self.g
            out = self.orig(hs.reshape(n, self.p, -1)[::self.g].reshape(u * self.p, -1), grid[::self.g], *args, **kw)
            return self.repeat(out, u)
        except Exception as e:  # noqa: BLE001 (any failure: the plain path from now on)
            self.ok, self.error = False, "%s: %s" % (type(e).__name__, e)
            log("encoding each image once failed (%s); the vision tower encodes every row from now on" % self.error)
            raise _Retry()

    def repeat(self, x, u):
        torch = self.torch
        if torch.is_tensor(x):
            if x.dim() == 0 or x.shape[0] % u:
                raise ValueError("an output of shape %s does not split over %d images" % (tuple(x.shape), u))
            per = x.shape[0] // u
            return x.reshape(u, per, *x.shape[1:]).repeat_interleave(self.g, 0).reshape(u * self.g * per, *x.shape[1:])
        if isinstance(x, dict):  # ModelOutput
            for k in list(x.keys()):
                if x[k] is not None:
                    x[k] = self.repeat(x[k], u)
            return x
        if isinstance(x, (tuple, list)):
            return type(x)(self.repeat(v, u) if v is not None else None for v in x)
        raise ValueError("cannot repeat a %s" % type(x).__name__)


class _Retry(Exception):
    """Raised once by OncePerImage when it gives up: the caller runs the pass again unwrapped."""


def retrying(f):
    try:
        return f()
    except _Retry:
        return f()


def main():
    args = parse_args()
    import torch
    import transformers
    from PIL import Image
    from tokenizers import Tokenizer

    if not torch.cuda.is_available() and args.device.startswith("cuda"):
        sys.exit("grpo3b.py: --device %s but this PyTorch sees no CUDA device" % args.device)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    B, G, T = args.batch, args.group, args.new_tokens
    N = B * G
    M = args.micro_batch or N
    t_setup = time.perf_counter()
    model, facts = build_model(transformers, torch, args, dev)
    cfg = model.config
    image_token = cfg.image_token_id
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    eos, pad = text_cfg.eos_token_id, text_cfg.pad_token_id
    eos = eos[0] if isinstance(eos, (list, tuple)) else eos

    # Inputs: the Go policy's chat prompt (models/hf/chat.go) with the image's placeholder expanded.
    paths = sorted(glob.glob(os.path.join(args.images, "*.png")))[:B]
    if len(paths) < B:
        sys.exit("grpo3b.py: %s has %d PNG images, want %d" % (args.images, len(paths), B))
    proc_cls = find_class(transformers, "qwen2_vl", ["Qwen2VLImageProcessorPil", "Qwen2VLImageProcessor"])
    proc = proc_cls.from_pretrained(args.model)
    feats = proc(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")
    pv, grid = feats["pixel_values"], feats["image_grid_thw"].long()
    patches = int(grid[0].prod())
    if any(int(g.prod()) != patches for g in grid):
        sys.exit("grpo3b.py: the images must share one size (their grids: %s)" % grid.tolist())
    merge = cfg.vision_config.spatial_merge_size
    image_tokens = patches // (merge * merge)
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    text = ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * image_tokens + "<|vision_end|>" + args.prompt
            + "<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(text, add_special_tokens=False).ids
    if ids.count(image_token) != image_tokens:
        sys.exit("grpo3b.py: the prompt holds %d image tokens (id %d), want %d" % (ids.count(image_token), image_token, image_tokens))
    P = len(ids)
    # A caption must not hold the image's own tokens: transformers would take a sampled
    # <|image_pad|> for a place of the image (too few features) and a <|vision_start|> for another
    # image. A 151,936-token random model draws one of them now and then; generate() suppresses them.
    vision_ids = sorted({i for i in (cfg.image_token_id, getattr(cfg, "video_token_id", None),
                                      getattr(cfg, "vision_start_token_id", None), getattr(cfg, "vision_end_token_id", None))
                         if i is not None})
    # N rows, image-major (row r shows image r // G), as the Go trainer lays them out.
    prompt = torch.tensor([ids], device=dev).repeat(N, 1)
    pv_rows = pv.to(dev, torch.bfloat16).reshape(B, patches, -1).repeat_interleave(G, 0).reshape(N * patches, -1)
    grid_rows = grid.to(dev).repeat_interleave(G, 0)
    fwd_params = inspect.signature(model.forward).parameters
    with_types = "mm_token_type_ids" in fwd_params
    keep = "logits_to_keep" in fwd_params

    trainable = [(n, p) for n, p in model.named_parameters() if ".visual." not in "." + n]
    for n, p in model.named_parameters():
        p.requires_grad_(not (".visual." in "." + n))
    params = [p for _, p in trainable]
    facts.update(params_total=sum(p.numel() for p in model.parameters()), params_trainable=sum(p.numel() for p in params),
                 prompt_tokens=P, image_tokens=image_tokens, images=B, group=G, new_tokens=T, micro_batch=M,
                 beta=args.beta, checkpointing=not args.no_checkpointing,
                 attn_implementation=getattr(cfg, "_attn_implementation", None),
                 torch=torch.__version__, transformers=transformers.__version__,
                 optimizer="torch.optim.AdamW(fused=True) on float32 master copies of the bfloat16 trainable weights "
                           "(persistent float32 gradient buffers; bfloat16 weights copied back after each step)")
    ref = None
    if args.beta > 0:
        import copy
        ref = copy.deepcopy(model).eval().requires_grad_(False)
    wrappers = [OncePerImage(torch, m.model.visual if hasattr(m.model, "visual") else m.visual, patches)
                for m in ([model] + ([ref] if ref is not None else []))]
    if not args.no_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    masters = [p.detach().float() for p in params]
    for m in masters:
        m.grad = torch.zeros_like(m)
    opt = torch.optim.AdamW(masters, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / args.warmup) if args.warmup > 0 else 1.0)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    sync()
    facts["setup_s"] = time.perf_counter() - t_setup
    log("%d parameters, %d trainable; prompt %d tokens (%d of the image); B=%d x G=%d, %d new tokens, micro-batch %d, "
        "beta %g, checkpointing %s; %s" % (facts["params_total"], facts["params_trainable"], P, image_tokens, B, G, T, M,
                                           args.beta, not args.no_checkpointing, facts["attn_implementation"]))

    def set_group(g):
        for w in wrappers:
            w.g = g

    def fresh(m):
        """Qwen-VL models keep the M-RoPE offsets of their last call; every call here starts anew."""
        for owner in (m, getattr(m, "model", None)):
            if owner is not None and hasattr(owner, "rope_deltas"):
                owner.rope_deltas = None

    def forward(m, seq, rows, temperature):
        """Log-probs [n, T] of the last T tokens of seq [n, P+T] (rows: their global indices) and
        the logits they come from, float32."""
        n = seq.shape[0]
        set_group(min(G, n))
        kw = dict(input_ids=seq, attention_mask=torch.ones_like(seq), pixel_values=pv_rows.reshape(N, patches, -1)[rows].reshape(n * patches, -1),
                  image_grid_thw=grid_rows[rows], use_cache=False)
        if with_types:
            kw["mm_token_type_ids"] = (seq == image_token).long()
        if keep:
            kw["logits_to_keep"] = T + 1
        fresh(m)
        logits = retrying(lambda: m(**kw).logits)[:, -(T + 1):-1].float() / temperature
        logp = logits.log_softmax(-1)
        return logp.gather(2, seq[:, -T:].unsqueeze(2)).squeeze(2), logp

    rec_f = open(args.out + ".tmp", "w")
    torch.cuda.reset_peak_memory_stats(dev)
    for step in range(1, args.steps + 1):
        sync()
        t0 = time.perf_counter()
        model.eval()
        set_group(G)
        gkw = dict(input_ids=prompt, attention_mask=torch.ones_like(prompt), pixel_values=pv_rows, image_grid_thw=grid_rows,
                   do_sample=True, temperature=args.temperature, top_k=0, top_p=1.0, min_new_tokens=T, max_new_tokens=T,
                   eos_token_id=eos, pad_token_id=pad, use_cache=True, suppress_tokens=vision_ids)
        if with_types:
            gkw["mm_token_type_ids"] = (prompt == image_token).long()
        fresh(model)
        with torch.no_grad():
            seq = retrying(lambda: model.generate(**gkw))
        sync()
        t1 = time.perf_counter()
        if seq.shape != (N, P + T):
            sys.exit("grpo3b.py: generate returned %s, want %d rows of %d + %d tokens: unequal work" % (tuple(seq.shape), N, P, T))

        rewards = torch.randn(B, G, generator=gen, device=dev)  # the stand-in reward
        adv = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-6)).reshape(N)
        sync()
        t2 = time.perf_counter()

        model.train()
        ref_lp = None
        if ref is not None:
            with torch.no_grad():
                ref_lp = torch.cat([forward(ref, seq[i:i + M], torch.arange(i, min(i + M, N), device=dev), args.temperature)[0]
                                    for i in range(0, N, M)])
        loss_sum, kl_sum, ent_sum = 0.0, 0.0, 0.0
        for i in range(0, N, M):
            rows = torch.arange(i, min(i + M, N), device=dev)
            lp, logp = forward(model, seq[i:i + M], rows, args.temperature)
            with torch.no_grad():
                ent_sum += float(-(logp.exp() * logp).sum(-1).sum())
            del logp
            ratio = torch.exp(lp - lp.detach())  # one update per rollout: the old policy is this one
            a = adv[rows].unsqueeze(1)
            per_tok = torch.maximum(-a * ratio, -a * ratio.clamp(1 - args.eps_low, 1 + args.eps_high))
            if ref_lp is not None:
                d = (ref_lp[rows] - lp).clamp(-20, 20)
                kl = torch.exp(d) - d - 1
                per_tok = per_tok + args.beta * kl
                kl_sum += float(kl.detach().sum())
            loss = per_tok.sum(1).div(T).sum() / N  # seq-mean-token-mean over the step's N captions
            loss.backward()
            loss_sum += float(loss.detach())
            del lp, ratio, per_tok, loss
        for p, m in zip(params, masters):
            m.grad.copy_(p.grad)
            p.grad = None
        grad_norm = torch.nn.utils.clip_grad_norm_(masters, args.clip)
        opt.step()
        sched.step()
        with torch.no_grad():
            for p, m in zip(params, masters):
                p.copy_(m)
        sync()
        t3 = time.perf_counter()

        dt = t3 - t0
        rec = {"step": step, "step_time": dt, "rollout_time": t1 - t0, "reward_time": t2 - t1, "update_time": t3 - t2,
               "tokens": N * T, "samples": N, "tokens_per_s": N * T / dt, "length_min": T, "length_max": T,
               "loss": loss_sum, "grad_norm": float(grad_norm), "kl": kl_sum / (N * T), "entropy": ent_sum / (N * T),
               "mem_allocated_max_mib": torch.cuda.max_memory_allocated(dev) / 2**20}
        rec_f.write(json.dumps(rec) + "\n")
        rec_f.flush()
        log("step %d/%d step_time=%.3fs rollout %.3fs update %.3fs loss %.4g grad_norm %.4g" % (
            step, args.steps, dt, t1 - t0, t3 - t2, loss_sum, float(grad_norm)))
    rec_f.close()
    os.replace(args.out + ".tmp", args.out)
    facts["max_memory_allocated_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    facts["max_memory_reserved_mib"] = torch.cuda.max_memory_reserved(dev) / 2**20
    facts["vision_once_per_image"] = all(w.ok for w in wrappers)
    facts["vision_wrapper_error"] = "; ".join(w.error for w in wrappers if w.error)
    with open(args.summary, "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    log("peak allocated %.0f MiB, reserved %.0f MiB (torch.cuda, over the steps)" % (
        facts["max_memory_allocated_mib"], facts["max_memory_reserved_mib"]))


if __name__ == "__main__":
    main()
