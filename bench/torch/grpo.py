"""PyTorch twin of one Unified-GRPO run of `trainer train`, for `make bench`.

The same policy (the network of models/captioner/testdata/reference.py, loaded from the same Go
safetensors checkpoint), the same GRPO step as trainer/train.go, written the way a PyTorch user
would write it:

  rollout   frozen vision features once per step (no_grad), prefix keys/values once per image,
            KV-cached sampling of G captions per image under torch.no_grad, multinomial at the
            temperature, stop when every row has emitted EOS
  reward    the Go environment itself (bin/rewardenv over a pipe: decoder + 3 embedders, the
            same scenes and random streams as the Go trainer); its time is reported apart
  update    reference log-probs under no_grad (beta > 0), policy teacher-forced log-probs with
            autograd, entropy (metric), clipped-ratio + k3-KL loss with seq-mean-token-mean
            aggregation, backward, clip_grad_norm_, torch.optim.AdamW, linear warmup

Every step appends one JSON line to --out with the keys of the Go trainer's metrics.jsonl
(step_time, rollout_time, reward_time, update_time, tokens, samples, tokens_per_s, ...).

Run with Debian's /usr/bin/python3 (python3-torch, the same libtorch 1.13.1 as gotch here).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "models", "captioner", "testdata"))
import reference  # noqa: E402  (the PyTorch re-implementation of the policy network)


class Env:
    """The Go GRPO environment behind a pipe (bench/rewardenv)."""

    def __init__(self, cmd):
        self.p = subprocess.Popen([cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)

    def call(self, req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("rewardenv exited (request %s)" % req["op"])
        rep = json.loads(line)
        if "error" in rep:
            raise RuntimeError("rewardenv: " + rep["error"])
        return rep

    def scenes(self, seed, step, batch):
        rep = self.call({"op": "scenes", "seed": seed, "step": step, "batch": batch})
        x = torch.tensor(rep["pix"], dtype=torch.float32).view(batch, rep["C"], rep["H"], rep["W"])
        return x * 2 - 1

    def rewards(self, seed, step, batch, group, tokens):
        rep = self.call({"op": "rewards", "seed": seed, "step": step, "batch": batch,
                         "group": group, "tokens": tokens})
        return rep["rewards"]

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class Policy(reference.Policy):
    """reference.Policy with the GRPO pieces: early-stopping sampler and teacher forcing with
    the image prefix shared by the G rows of each image."""

    @torch.no_grad()
    def rollout(self, feats, G, max_len, gen, temperature, min_len=0):
        """G captions per image, KV cache, all rows per step; returns tokens [N, T] (PAD after
        EOS) and lengths [N] (EOS included). EOS is not drawn before min_len tokens."""
        c = self.c
        B = feats.shape[0]
        N, H, D = B * G, c["heads"], c["dim"]
        Dh = D // H
        ks, vs = self.prefix(self.project(feats))
        kc = [torch.zeros(N, H, max_len, Dh) for _ in ks]
        vc = [torch.zeros(N, H, max_len, Dh) for _ in ks]
        ids = torch.full((N,), c["bos"], dtype=torch.long)
        done = torch.zeros(N, dtype=torch.bool)
        out = torch.full((N, max_len), c["pad"], dtype=torch.long)
        T = max_len
        for t in range(max_len):
            probs = (self.step_logits(ks, vs, kc, vc, ids, t, G) / temperature).softmax(-1)
            if t + 1 < min_len:
                probs[:, c["eos"]] = 0  # multinomial renormalises
            nxt = torch.multinomial(probs, 1, generator=gen).view(N)
            nxt = nxt.masked_fill(done, c["pad"])
            out[:, t] = nxt
            done |= nxt == c["eos"]
            ids = nxt
            if bool(done.all()):
                T = t + 1
                break
        out = out[:, :T]
        eos = out == c["eos"]
        lengths = torch.where(eos.any(1), eos.float().argmax(1) + 1, torch.full((N,), T))
        return out, lengths

    def captions_shared(self, ks, vs, ids, G):
        """Teacher-forced pass over captions ids [N, T] after the image prefix keys/values
        [B, H, P, Dh]; each image's prefix is attended by its G rows in one matrix product."""
        c, P = self.c, self.P
        N, T = ids.shape
        B, H, D = N // G, c["heads"], c["dim"]
        Dh = D // H
        x = F.embedding(ids, self.w["lm.tok"]) + self.w["lm.pos"][P:P + T]
        causal = torch.full((T, T), float("-inf")).triu(1)
        scale = 1 / math.sqrt(Dh)
        for l in range(c["layers"]):
            pre = "lm.layer%d" % l
            q, k, v = self.qkv(pre, x, D, H)  # [N, H, T, Dh]
            q = q * scale
            qi = q.reshape(B, G, H, T, Dh).transpose(1, 2).reshape(B, H, G * T, Dh)
            sp = (qi @ ks[l].transpose(-2, -1)).reshape(B, H, G, T, P).transpose(1, 2)
            sp = sp.reshape(N, H, T, P)
            ss = q @ k.transpose(-2, -1) + causal
            p = torch.cat([sp, ss], -1).softmax(-1)
            pi = p[..., :P].reshape(B, G, H, T, P).transpose(1, 2).reshape(B, H, G * T, P)
            op = (pi @ vs[l]).reshape(B, H, G, T, Dh).transpose(1, 2).reshape(N, H, T, Dh)
            o = op + p[..., P:] @ v
            x = self.post(pre, x, o.transpose(1, 2).reshape(N, T, D), D)
        return self.head(x)

    def token_logprobs(self, feats, ids, tgt, mask, G, temperature, shared):
        ks, vs = self.prefix(self.project(feats))
        if shared:
            _, logits = self.captions_shared(ks, vs, ids, G)
        else:
            _, logits = self.captions(ks, vs, ids, G)
        logp = (logits / temperature).log_softmax(-1)
        return logp.gather(2, tgt.unsqueeze(2)).squeeze(2) * mask, logp


def teacher_inputs(c, tokens, lengths):
    """Inputs (BOS then the caption shifted right), targets and mask [N, T] from sampled
    tokens [N, T] (PAD after EOS)."""
    N, T = tokens.shape
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).float()
    tgt = tokens.masked_fill(mask == 0, c["pad"])
    ids = torch.cat([torch.full((N, 1), c["bos"], dtype=torch.long), tgt[:, :-1]], 1)
    return ids, tgt, mask


def grpo_loss(lp, old, ref, adv, mask, lengths, eps_low, eps_high, beta):
    """Eq. 1-2 of the paper, seq-mean-token-mean: per-token clipped surrogate + beta k3 KL,
    averaged over each caption's tokens, then over captions."""
    ratio = torch.exp(lp - old)
    a = adv.unsqueeze(1)
    pg = torch.maximum(-a * ratio, -a * ratio.clamp(1 - eps_low, 1 + eps_high))
    d = (ref - lp).clamp(-20, 20)
    kl = torch.exp(d) - d - 1
    per_tok = (pg + beta * kl) * mask
    loss = (per_tok.sum(1) / lengths).mean()
    return loss, (kl * mask).sum() / mask.sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init", required=True, help="Go checkpoint (model.safetensors)")
    ap.add_argument("--env", required=True, help="the rewardenv binary")
    ap.add_argument("--out", required=True, help="metrics JSON lines to write")
    ap.add_argument("--steps", type=int, default=35)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-5)  # the defaults are trainer train's
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--beta", type=float, default=0.2)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--eps-low", type=float, default=0.2)
    ap.add_argument("--eps-high", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-len", type=int, default=0,
                    help="EOS is not drawn before a caption has this many tokens (as trainer's --min-len)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (PyTorch >= 2.0: new tensors are made there)")
    ap.add_argument("--attention", choices=["shared", "repeat"], default="shared",
                    help="teacher-forced prefix attention: shared by the G rows of an image "
                         "(as the Go model) or reference.py's repeat_interleave")
    args = ap.parse_args()
    if args.batch < 1 or args.group < 2 or args.steps < 1:
        sys.exit("grpo.py: need --batch >= 1, --group >= 2, --steps >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    if dev.type != "cpu":
        torch.set_default_device(dev)  # every tensor the model and the step create goes there
    # the clock of a step waits for the device's queue, as the Go trainer's does
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    w, meta = reference.load_safetensors(args.init)
    w = {k: v.to(dev) for k, v in w.items()}
    c = json.loads(meta["policy.config"])
    ref_w = {k: v.clone() for k, v in w.items()}
    trainable = [k for k in w if not k.startswith("vision.")]
    params = [w[k].requires_grad_(True) for k in trainable]
    policy, ref_policy = Policy(c, w), Policy(c, ref_w)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / args.warmup) if args.warmup > 0 else 1.0)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    env = Env(args.env)
    B, G = args.batch, args.group
    shared = args.attention == "shared"
    # The scenes are rendered by the Go environment ahead of time (the Go trainer renders them
    # inside its rollout time).
    images = {s: env.scenes(args.seed, s, B).to(dev) for s in range(1, args.steps + 1)}
    with open(args.out + ".tmp", "w") as f:
        for step in range(1, args.steps + 1):
            sync()
            t0 = time.perf_counter()
            with torch.no_grad():
                feats = policy.vision(images[step])  # frozen: once per step, shared by all passes
            tokens, lengths = policy.rollout(feats, G, c["max_len"], gen, args.temperature, args.min_len)
            sync()
            t1 = time.perf_counter()

            rows = [r[:n] for r, n in zip(tokens.tolist(), lengths.tolist())]
            rewards = torch.tensor(env.rewards(args.seed, step, B, G, rows)).view(B, G)
            std = rewards.std(1, keepdim=True)
            adv = ((rewards - rewards.mean(1, keepdim=True)) / (std + 1e-6)).view(-1)
            t2 = time.perf_counter()

            ids, tgt, mask = teacher_inputs(c, tokens, lengths)
            lens = lengths.float()
            with torch.no_grad():
                ref_lp, _ = ref_policy.token_logprobs(feats, ids, tgt, mask, G, args.temperature, shared)
            lp, logp = policy.token_logprobs(feats, ids, tgt, mask, G, args.temperature, shared)
            with torch.no_grad():
                entropy = (-(logp.exp() * logp).sum(-1) * mask).sum() / mask.sum()
            loss, kl = grpo_loss(lp, lp.detach(), ref_lp, adv, mask, lens, args.eps_low,
                                 args.eps_high, args.beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, args.clip)
            opt.step()
            sched.step()
            sync()
            t3 = time.perf_counter()

            n_tok = int(lengths.sum())
            dt = t3 - t0
            rec = {"step": step, "step_time": dt, "rollout_time": t1 - t0, "reward_time": t2 - t1,
                   "update_time": t3 - t2, "tokens": n_tok, "samples": B * G,
                   "tokens_per_s": n_tok / dt, "samples_per_s": B * G / dt,
                   "reward_mean": float(rewards.mean()),
                   "length_mean": float(lens.mean() - (tokens == c["eos"]).any(1).float().mean()),
                   "kl": float(kl), "entropy": float(entropy), "loss": float(loss.detach()),
                   "grad_norm": float(grad_norm)}
            f.write(json.dumps(rec) + "\n")
            if step % 10 == 0 or step == args.steps:
                print("torch grpo step %d/%d step_time=%.3fs reward_mean=%.4f length_mean=%.2f"
                      % (step, args.steps, dt, rec["reward_mean"], rec["length_mean"]), flush=True)
    os.replace(args.out + ".tmp", args.out)
    env.close()


if __name__ == "__main__":
    main()
