"""PyTorch twin of `lmbench run` (bench/lmbench), for scripts/bench/lm.sh.

The Qwen2 causal LM of a folder written by `lmbench init` (config.json, model.safetensors), in
plain PyTorch from the Qwen2 semantics as models/hf computes them: token embeddings, pre-norm
decoder layers (RMSNorm in float32, q/k/v projections with biases, rotary half-rotation, grouped-
query attention with repeat_interleave, scores scaled then softmaxed in float32 with an additive
mask, SwiGLU MLP), the final RMSNorm and the tied head; greedy decoding with a key/value cache
(torch.cat per step), under torch.inference_mode, one thread.

Same work as the Go side: the same prompts (splitmix64 from --seed, modulo the vocabulary, row b
token t = output b*P+t+1), the same batch and lengths, the same N forward passes of Generate (the
prompt, then one token per step), and the same logits: the last position's only, in float32, as
models/hf's generation computes them and transformers' generate does (logits_to_keep=1);
--logits all computes every position's, for comparison only.

Timing, as the Go side (hf.LM.Generate has no hook between steps): after --warmup untimed
generations of two tokens from one token, each repeat times generate(1) and generate(N); prefill =
the least generate(1), a decode step = (least generate(N) - least generate(1)) / (N-1).
prefill_direct_s is the prefill step timed inside generate(N), a check of the method. Memory and
page faults are read as the Go side does (VmRSS, VmHWM reset after loading, ru_minflt per call).

Prints one JSON line with the keys of `lmbench run`.

--rollout G: instead, the twin of `lmbench rollout`: G samples of one prompt, --new tokens each,
as transformers' generate(do_sample=True, num_return_sequences=G) runs them: the prompt repeated
to G rows before the prefill (one prefill per row), the cache grown by concatenation, each step's
last-position logits divided by the temperature (1), softmaxed and drawn with torch.multinomial,
no end token. Prints one JSON line with the keys of `lmbench rollout` (side "twin").

No transformers or safetensors module: the header is parsed with json/struct and each tensor is
read into its own buffer (torch.frombuffer), converted to the dtype one at a time, so that loading
holds one copy of the weights. Run with Debian's /usr/bin/python3 (python3-torch 1.13.1).
"""
import argparse
import json
import math
import os
import resource
import struct
import time

import torch
import torch.nn.functional as F

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
M64 = (1 << 64) - 1


def proc_status(key):
    """A memory line of /proc/self/status (kB) in bytes; 0 when absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) << 10
    return 0


def minor_faults():
    """The process's minor page faults so far (fresh memory touched, mostly)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def reset_peak():
    """Resets VmHWM to the current RSS ("5" to /proc/self/clear_refs, Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def prompt_ids(seed, B, P, vocab):
    """B rows of P ids: splitmix64's outputs from seed, modulo vocab (as lmbench's promptIDs)."""
    s = seed & M64
    out = []
    for _ in range(B):
        row = []
        for _ in range(P):
            s = (s + 0x9E3779B97F4A7C15) & M64
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            z ^= z >> 31
            row.append(z % vocab)
        out.append(row)
    return out


def read_weights(path, dtype):
    """The tensors of a safetensors file, each read into its own buffer and converted to dtype."""
    kinds = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    out = {}
    with open(path, "rb", buffering=0) as f:
        (n,) = struct.unpack("<Q", f.read(8))
        head = json.loads(f.read(n))
        head.pop("__metadata__", None)
        base = 8 + n
        for name, e in sorted(head.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            lo, hi = e["data_offsets"]
            buf = bytearray(hi - lo)
            view = memoryview(buf)
            f.seek(base + lo)
            got = 0
            while got < len(buf):
                k = f.readinto(view[got:])
                if not k:
                    raise RuntimeError("%s: tensor %s is truncated" % (path, name))
                got += k
            t = torch.frombuffer(buf, dtype=kinds[e["dtype"]]).view(e["shape"])
            out[name] = t if t.dtype == dtype else t.to(dtype)
            del buf, view, t
    return out


class LM:
    def __init__(self, folder, dtype):
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        assert c["model_type"] == "qwen2" and c.get("hidden_act", "silu") == "silu"
        self.dtype = dtype
        self.L = c["num_hidden_layers"]
        self.D = c["hidden_size"]
        self.H = c["num_attention_heads"]
        self.KV = c.get("num_key_value_heads") or self.H
        self.Dh = c.get("head_dim") or self.D // self.H
        self.V = c["vocab_size"]
        self.eps = c["rms_norm_eps"]
        self.theta = c["rope_theta"]
        w = read_weights(os.path.join(folder, "model.safetensors"), dtype)
        self.weights = w
        self.embed = w["model.embed_tokens.weight"]
        self.head = self.embed if c.get("tie_word_embeddings") else w["lm_head.weight"]
        self.norm = w["model.norm.weight"]
        self.layers = []
        for i in range(self.L):
            p = "model.layers.%d." % i
            g = lambda n: w.get(p + n)  # noqa: E731
            self.layers.append(dict(
                in_norm=g("input_layernorm.weight"), post_norm=g("post_attention_layernorm.weight"),
                q=(g("self_attn.q_proj.weight"), g("self_attn.q_proj.bias")),
                k=(g("self_attn.k_proj.weight"), g("self_attn.k_proj.bias")),
                v=(g("self_attn.v_proj.weight"), g("self_attn.v_proj.bias")),
                o=(g("self_attn.o_proj.weight"), g("self_attn.o_proj.bias")),
                gate=(g("mlp.gate_proj.weight"), g("mlp.gate_proj.bias")),
                up=(g("mlp.up_proj.weight"), g("mlp.up_proj.bias")),
                down=(g("mlp.down_proj.weight"), g("mlp.down_proj.bias"))))
        # Angles per position as models/hf computes them: theta^(-2i/Dh) rounded to float32.
        self.inv_freq = torch.tensor(
            [1 / math.pow(self.theta, 2 * i / self.Dh) for i in range(self.Dh // 2)], dtype=torch.float32)

    def weight_bytes(self):
        return sum(t.numel() * t.element_size() for t in self.weights.values())

    def rms_norm(self, x, w):
        x32 = x.float()
        r = torch.rsqrt((x32 * x32).mean(-1, keepdim=True) + self.eps)
        return w * (x32 * r).to(self.dtype)

    def rotary(self, pos):
        """cos, sin [B, 1, T, Dh] of the positions [B, T]."""
        ang = pos.float()[..., None] * self.inv_freq
        emb = torch.cat([ang, ang], -1)[:, None]
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    @staticmethod
    def rope(x, cos, sin):
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    @staticmethod
    def mask(keys, T):
        """Additive mask [B, 1, T, S] of T new queries over the S keys [B, S] (1 open, 0 padding),
        the last T of them new; closed keys get the lowest float32."""
        B, S = keys.shape
        q = torch.arange(T)[:, None] + (S - T)
        closed = (torch.arange(S)[None, :] > q)[None] | (keys[:, None, :] == 0)
        m = torch.zeros(B, 1, T, S)
        return m.masked_fill_(closed[:, None], torch.finfo(torch.float32).min)

    def layer(self, w, x, cos, sin, mask, kv):
        B, T, _ = x.shape
        H, KV, Dh = self.H, self.KV, self.Dh
        h = self.rms_norm(x, w["in_norm"])

        def heads(lin, n):
            return F.linear(h, *lin).view(B, T, n, Dh).transpose(1, 2)

        q = self.rope(heads(w["q"], H), cos, sin)
        k = self.rope(heads(w["k"], KV), cos, sin)
        v = heads(w["v"], KV)
        if kv[0] is not None:
            k, v = torch.cat([kv[0], k], 2), torch.cat([kv[1], v], 2)
        kv[0], kv[1] = k, v
        if H != KV:
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        s = (torch.matmul(q, k.transpose(2, 3)) * (1 / math.sqrt(Dh))).float() + mask
        o = torch.matmul(s.softmax(-1).to(self.dtype), v)
        o = o.transpose(1, 2).reshape(B, T, H * Dh)
        x = x + F.linear(o, *w["o"])
        h = self.rms_norm(x, w["post_norm"])
        mlp = F.silu(F.linear(h, *w["gate"])) * F.linear(h, *w["up"])
        return x + F.linear(mlp, *w["down"])

    def forward(self, ids, pos, keys, cache, last_only):
        cos, sin = self.rotary(pos)
        mask = self.mask(keys, ids.shape[1])
        x = F.embedding(ids, self.embed)
        for w, kv in zip(self.layers, cache):
            x = self.layer(w, x, cos, sin, mask, kv)
        if last_only:
            x = x[:, -1:]
        x = self.rms_norm(x, self.norm)
        return F.linear(x, self.head).float()

    def generate(self, prompts, new, last_only=False):
        """Greedy continuation of equal-length prompts, one token per step with a KV cache;
        returns the new tokens [B, new] and the time of the first (prefill) step."""
        ids = torch.tensor(prompts, dtype=torch.int64)
        B, P = ids.shape
        pos = torch.arange(P).expand(B, P)
        keys = torch.ones(B, P, dtype=torch.int64)
        cache = [[None, None] for _ in range(self.L)]
        out = []
        t0 = time.perf_counter()
        first = 0.0
        for step in range(new):
            logits = self.forward(ids, pos, keys, cache, last_only)
            nxt = logits[:, -1].argmax(-1)
            out.append(nxt)
            if step == 0:
                first = time.perf_counter() - t0
            if step == new - 1:
                break
            ids = nxt[:, None]
            pos = torch.full((B, 1), P + step, dtype=torch.int64)
            keys = torch.cat([keys, torch.ones(B, 1, dtype=torch.int64)], 1)
        return torch.stack(out, 1), first


    def sample(self, prompt, G, new, gen):
        """G sampled continuations of one prompt, new tokens each (transformers' generate with
        do_sample and num_return_sequences=G: the prompt's rows expanded before the prefill)."""
        ids = torch.tensor([prompt] * G, dtype=torch.int64)
        B, P = ids.shape
        pos = torch.arange(P).expand(B, P)
        keys = torch.ones(B, P, dtype=torch.int64)
        cache = [[None, None] for _ in range(self.L)]
        out = []
        for step in range(new):
            logits = self.forward(ids, pos, keys, cache, True)[:, -1]
            probs = (logits / 1.0).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]
            out.append(nxt)
            if step == new - 1:
                break
            ids = nxt[:, None]
            pos = torch.full((B, 1), P + step, dtype=torch.int64)
            keys = torch.cat([keys, torch.ones(B, 1, dtype=torch.int64)], 1)
        return torch.stack(out, 1)


def rollout(a, dtype):
    """The twin of `lmbench rollout`: one JSON line."""
    r = dict(side="twin", dtype=a.dtype, batch=a.rollout, prompt=a.prompt, new=a.new, repeat=a.repeat,
             threads=a.threads, seed=a.seed,
             method="least of --repeat timed sample calls (transformers.generate's work: prefill per row, cache by concatenation)")
    with torch.inference_mode():
        m = LM(a.model, dtype)
        r["layers"] = m.L
        prompt = prompt_ids(a.seed, 1, a.prompt, m.V)[0]
        gen = torch.Generator().manual_seed(a.seed)
        m.sample(prompt, a.rollout, 2, gen)  # warm-up, as the Go side
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            toks = m.sample(prompt, a.rollout, a.new, gen)
            times.append(time.perf_counter() - t)
    r["rollout_s"] = times
    r["best_s"] = min(times)
    r["tokens"] = toks.numel()
    r["rollout_tok_s"] = r["tokens"] / r["best_s"]
    print(json.dumps(r), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model folder (lmbench init)")
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed generations of 2 tokens from the first prompt's first token before timing")
    ap.add_argument("--logits", default="last", choices=["all", "last"],
                    help="last: only the last position's logits, as models/hf's generation (default); all: every position's")
    ap.add_argument("--rollout", type=int, default=0,
                    help="G > 0: time G sampled continuations of one prompt instead (the twin of lmbench rollout)")
    a = ap.parse_args()
    if a.rollout > 0:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
        return rollout(a, DTYPES[a.dtype])
    if a.new < 2 or min(a.batch, a.prompt, a.repeat, a.threads) < 1 or a.warmup < 0:
        ap.error("need positive --batch, --prompt, --repeat and --threads, --new of at least 2 and --warmup of at least 0")
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    dtype = DTYPES[a.dtype]
    r = dict(side="torch" if a.logits == "last" else "torch-alllogits", dtype=a.dtype, batch=a.batch,
             prompt=a.prompt, new=a.new, repeat=a.repeat, warmup=a.warmup, threads=a.threads, seed=a.seed,
             method="prefill = min over repeats of generate(1); decode step = "
                    "(min generate(N) - min generate(1)) / (N-1)")
    r["rss_start"] = proc_status("VmRSS")
    with torch.inference_mode():
        t0 = time.perf_counter()
        m = LM(a.model, dtype)
        r["load_s"] = time.perf_counter() - t0
        r["rss_after_load"] = proc_status("VmRSS")
        r["peak_rss_load"] = proc_status("VmHWM")
        r["peak_reset"] = reset_peak()
        r["layers"] = m.L
        r["weights_bytes"] = m.weight_bytes()
        r["kv_bytes"] = m.L * 2 * a.batch * m.KV * (a.prompt + a.new - 1) * m.Dh * torch.tensor([], dtype=dtype).element_size()
        prompts = prompt_ids(a.seed, a.batch, a.prompt, m.V)
        last = a.logits == "last"
        for _ in range(a.warmup):  # the first calls' one-time costs out of the timings, as the Go side
            m.generate([prompts[0][:1]], 2, last)
        g1, gn, direct, f1, fn = [], [], [], [], []
        tokens = None
        for i in range(a.repeat):
            flt = minor_faults()
            t = time.perf_counter()
            m.generate(prompts, 1, last)
            g1.append(time.perf_counter() - t)
            f1.append(minor_faults() - flt)
            flt = minor_faults()
            t = time.perf_counter()
            toks, first = m.generate(prompts, a.new, last)
            gn.append(time.perf_counter() - t)
            fn.append(minor_faults() - flt)
            direct.append(first)
            toks = toks.tolist()
            if tokens is None:
                tokens = toks
            elif toks != tokens:
                raise SystemExit("lmbench.py: repeat %d generated other tokens than repeat 1" % (i + 1))
    r["peak_rss_run"] = proc_status("VmHWM")
    r["peak_rss"] = max(r["peak_rss_load"], r["peak_rss_run"])
    r["gen1_s"], r["genN_s"], r["prefill_direct_s"] = g1, gn, direct
    r["gen1_faults"], r["genN_faults"] = f1, fn
    r["prefill_s"] = min(g1)
    r["decode_step_s"] = (min(gn) - min(g1)) / (a.new - 1)
    r["prefill_tok_s"] = a.batch * a.prompt / r["prefill_s"]
    r["decode_tok_s"] = a.batch / r["decode_step_s"]
    r["tokens"] = tokens
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
