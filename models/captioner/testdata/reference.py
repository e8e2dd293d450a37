"""PyTorch twin of the Go captioner in models/policy, for cross-checks and side-by-side timing.

It reads the Go model's safetensors checkpoints directly (no safetensors package needed) and
implements the same network: conv stem + bidirectional transformer, projector, causal LM over
[image tokens ; BOS ; caption] with the image prefix's keys/values computed once per image.

  python3 reference.py logprobs CKPT INPUT.json   per-token log-probs of captions (JSON on stdout)
  python3 reference.py bench [CKPT]               time sampling and teacher-forced fwd+bwd at
                                                  B=8, G=8, 12 tokens, one thread

INPUT.json: {"images": [{"C":..,"H":..,"W":..,"Pix":[..]}], "G": g, "tokens": [[..]], "temperature": t}
Use Debian's /usr/bin/python3 with python3-torch (PyTorch 1.13, the same libtorch as gotch here).
"""
import json
import math
import struct
import sys
import time

import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError("%s: dtype %s, want F32" % (name, info["dtype"]))
        s, e = info["data_offsets"]
        buf = bytearray(data[base + s:base + e])
        tensors[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(info["shape"]).clone()
    return tensors, meta


def default_config():
    return dict(image_size=32, channels=3, stem1=32, stem2=64, vision_dim=128, vision_layers=2,
                vision_heads=4, projector_hidden=0, dim=128, layers=3, heads=4, mlp_ratio=4,
                max_len=40, vocab=30, pad=0, bos=1, eos=2, layer_norm_eps=1e-5)


def random_weights(c, seed=0):
    """Weights with the Go model's names and shapes (values drawn by torch, not Go's)."""
    g = torch.Generator().manual_seed(seed)
    w = {}

    def normal(name, std, *shape):
        w[name] = torch.randn(*shape, generator=g) * std

    def linear(name, i, o):
        normal(name + ".weight", 0.02, o, i)
        w[name + ".bias"] = torch.zeros(o)

    def norm(name, d):
        w[name + ".weight"] = torch.ones(d)
        w[name + ".bias"] = torch.zeros(d)

    def block(name, d):
        norm(name + ".ln1", d)
        linear(name + ".attn.qkv", d, 3 * d)
        linear(name + ".attn.out", d, d)
        norm(name + ".ln2", d)
        linear(name + ".mlp.fc1", d, c["mlp_ratio"] * d)
        linear(name + ".mlp.fc2", c["mlp_ratio"] * d, d)

    P = (c["image_size"] // 4) ** 2
    for i, (cin, cout) in enumerate([(c["channels"], c["stem1"]), (c["stem1"], c["stem2"]),
                                     (c["stem2"], c["vision_dim"])]):
        normal("vision.conv%d.weight" % (i + 1), 1 / math.sqrt(cin * 9), cout, cin, 3, 3)
        w["vision.conv%d.bias" % (i + 1)] = torch.zeros(cout)
    normal("vision.pos", 0.02, P, c["vision_dim"])
    for i in range(c["vision_layers"]):
        block("vision.layer%d" % i, c["vision_dim"])
    norm("vision.norm", c["vision_dim"])
    if c["projector_hidden"] > 0:
        linear("projector.fc1", c["vision_dim"], c["projector_hidden"])
        linear("projector.fc2", c["projector_hidden"], c["dim"])
    else:
        linear("projector.fc", c["vision_dim"], c["dim"])
    normal("lm.tok", 0.02, c["vocab"], c["dim"])
    normal("lm.pos", 0.02, P + c["max_len"], c["dim"])
    for i in range(c["layers"]):
        block("lm.layer%d" % i, c["dim"])
    norm("lm.norm", c["dim"])
    linear("lm.head", c["dim"], c["vocab"])
    return w


class Policy:
    def __init__(self, c, w):
        self.c, self.w = c, w
        self.P = (c["image_size"] // 4) ** 2
        self.eps = c["layer_norm_eps"]
        self.ban = torch.zeros(c["vocab"])
        self.ban[c["pad"]] = -1e9
        self.ban[c["bos"]] = -1e9

    def qkv(self, pre, x, d, heads):
        w = self.w
        R, L, _ = x.shape
        h = F.layer_norm(x, (d,), w[pre + ".ln1.weight"], w[pre + ".ln1.bias"], self.eps)
        t = F.linear(h, w[pre + ".attn.qkv.weight"], w[pre + ".attn.qkv.bias"])
        t = t.view(R, L, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        return t[0], t[1], t[2]

    def post(self, pre, x, o, d):
        w = self.w
        x = x + F.linear(o, w[pre + ".attn.out.weight"], w[pre + ".attn.out.bias"])
        h = F.layer_norm(x, (d,), w[pre + ".ln2.weight"], w[pre + ".ln2.bias"], self.eps)
        h = F.linear(F.gelu(F.linear(h, w[pre + ".mlp.fc1.weight"], w[pre + ".mlp.fc1.bias"])),
                     w[pre + ".mlp.fc2.weight"], w[pre + ".mlp.fc2.bias"])
        return x + h

    def block(self, pre, x, d, heads, keys=None, values=None, mask=None):
        R, L, _ = x.shape
        q, k, v = self.qkv(pre, x, d, heads)
        if keys is not None:
            k, v = torch.cat([keys, k], 2), torch.cat([values, v], 2)
        s = (q / math.sqrt(d // heads)) @ k.transpose(-2, -1)
        if mask is not None:
            s = s + mask
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(R, L, d)
        return self.post(pre, x, o, d)

    def vision(self, x):
        """Vision encoder: images [B, C, S, S] -> tokens [B, P, Dv]."""
        c, w = self.c, self.w
        B = x.shape[0]
        h = F.gelu(F.conv2d(x, w["vision.conv1.weight"], w["vision.conv1.bias"], 1, 1))
        h = F.gelu(F.conv2d(h, w["vision.conv2.weight"], w["vision.conv2.bias"], 2, 1))
        h = F.conv2d(h, w["vision.conv3.weight"], w["vision.conv3.bias"], 2, 1)
        h = h.view(B, c["vision_dim"], self.P).transpose(1, 2) + w["vision.pos"]
        for i in range(c["vision_layers"]):
            h = self.block("vision.layer%d" % i, h, c["vision_dim"], c["vision_heads"])
        return F.layer_norm(h, (c["vision_dim"],), w["vision.norm.weight"], w["vision.norm.bias"],
                            self.eps)

    def project(self, h):
        """Projector: vision tokens [B, P, Dv] -> [B, P, D]."""
        w = self.w
        if self.c["projector_hidden"] > 0:
            h = F.linear(h, w["projector.fc1.weight"], w["projector.fc1.bias"])
            return F.linear(F.gelu(h), w["projector.fc2.weight"], w["projector.fc2.bias"])
        return F.linear(h, w["projector.fc.weight"], w["projector.fc.bias"])

    def encode(self, x):
        return self.project(self.vision(x))

    def prefix(self, z):
        c = self.c
        x = z + self.w["lm.pos"][:self.P]
        ks, vs = [], []
        for i in range(c["layers"]):
            q, k, v = self.qkv("lm.layer%d" % i, x, c["dim"], c["heads"])
            ks.append(k)
            vs.append(v)
            if i < c["layers"] - 1:
                s = (q / math.sqrt(c["dim"] // c["heads"])) @ k.transpose(-2, -1)
                o = (s.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
                x = self.post("lm.layer%d" % i, x, o, c["dim"])
        return ks, vs

    def head(self, x):
        w = self.w
        h = F.layer_norm(x, (self.c["dim"],), w["lm.norm.weight"], w["lm.norm.bias"], self.eps)
        return h, F.linear(h, w["lm.head.weight"], w["lm.head.bias"]) + self.ban

    def captions(self, ks, vs, ids, G):
        c, P = self.c, self.P
        N, T = ids.shape
        x = F.embedding(ids, self.w["lm.tok"]) + self.w["lm.pos"][P:P + T]
        i = torch.arange(T).unsqueeze(1)
        j = torch.arange(P + T).unsqueeze(0)
        mask = torch.zeros(T, P + T).masked_fill((j >= P) & (j - P > i), float("-inf"))
        for l in range(c["layers"]):
            kp = ks[l].repeat_interleave(G, 0)
            vp = vs[l].repeat_interleave(G, 0)
            x = self.block("lm.layer%d" % l, x, c["dim"], c["heads"], kp, vp, mask)
        return self.head(x)

    def logprobs(self, images, G, tokens, temperature):
        c = self.c
        N = len(tokens)
        T = max(len(t) for t in tokens)
        ids = torch.full((N, T), c["pad"], dtype=torch.long)
        tgt = torch.full((N, T), c["pad"], dtype=torch.long)
        mask = torch.zeros(N, T)
        for r, cap in enumerate(tokens):
            ids[r, 0] = c["bos"]
            for t, tok in enumerate(cap):
                tgt[r, t] = tok
                mask[r, t] = 1
                if t + 1 < T:
                    ids[r, t + 1] = tok
        ks, vs = self.prefix(self.encode(images))
        _, logits = self.captions(ks, vs, ids, G)
        lp = (logits / temperature).log_softmax(-1)
        return lp.gather(2, tgt.unsqueeze(2)).squeeze(2) * mask, lp, mask

    def step_logits(self, ks, vs, kc, vc, ids, t, G):
        """One decoding step of the Go sampler's algorithm: the tokens ids [N] at caption
        position t attend to the image prefix keys/values [B, H, P, Dh] (shared by the G rows of
        each image) and to the caption cache kc/vc [N, H, T, Dh], which gets their keys and
        values; returns the logits [N, V]."""
        c, P = self.c, self.P
        N, H, D = ids.shape[0], c["heads"], c["dim"]
        B, Dh = N // G, D // H
        x = F.embedding(ids.view(N, 1), self.w["lm.tok"]) + self.w["lm.pos"][P + t:P + t + 1]
        for l in range(c["layers"]):
            pre = "lm.layer%d" % l
            q, k, v = self.qkv(pre, x, D, H)
            kc[l][:, :, t:t + 1] = k
            vc[l][:, :, t:t + 1] = v
            q = q / math.sqrt(Dh)
            qb = q.reshape(B, G, H, Dh).permute(0, 2, 1, 3)
            sp = (qb @ ks[l].transpose(-2, -1)).permute(0, 2, 1, 3).reshape(N, H, P)
            ss = (q * kc[l][:, :, :t + 1]).sum(-1)
            p = torch.cat([sp, ss], -1).softmax(-1)
            pp = p[..., :P].reshape(B, G, H, P).permute(0, 2, 1, 3)
            op = (pp @ vs[l]).permute(0, 2, 1, 3).reshape(N, H, Dh)
            os_ = (p[..., P:].unsqueeze(-1) * vc[l][:, :, :t + 1]).sum(2)
            x = self.post(pre, x, (op + os_).reshape(N, 1, D), D)
        _, logits = self.head(x)
        return logits[:, 0]

    @torch.no_grad()
    def sample(self, images, G, steps, gen, temperature=1.0):
        """Same algorithm as the Go sampler: prefix once per image, attention over it shared by
        the G rows, preallocated caption cache, one token per step for all rows."""
        c = self.c
        B = images.shape[0]
        N, H, D = B * G, c["heads"], c["dim"]
        Dh = D // H
        ks, vs = self.prefix(self.encode(images))
        kc = [torch.zeros(N, H, steps, Dh) for _ in ks]
        vc = [torch.zeros(N, H, steps, Dh) for _ in ks]
        ids = torch.full((N,), c["bos"], dtype=torch.long)
        out = []
        for t in range(steps):
            probs = (self.step_logits(ks, vs, kc, vc, ids, t, G) / temperature).softmax(-1)
            ids = torch.multinomial(probs, 1, generator=gen).view(N)
            out.append(ids)
        return torch.stack(out, 1)


def images_tensor(items):
    return torch.stack([torch.tensor(im["Pix"], dtype=torch.float32).view(im["C"], im["H"], im["W"])
                        for im in items]) * 2 - 1


def cmd_logprobs(ckpt, inp):
    w, meta = load_safetensors(ckpt)
    c = json.loads(meta["policy.config"])
    with open(inp) as f:
        req = json.load(f)
    m = Policy(c, w)
    with torch.no_grad():
        lp, _, _ = m.logprobs(images_tensor(req["images"]), req["G"], req["tokens"], req["temperature"])
    json.dump({"logprobs": lp.tolist()}, sys.stdout)


def cmd_bench(ckpt=None):
    torch.set_num_threads(1)
    if ckpt:
        w, meta = load_safetensors(ckpt)
        c = json.loads(meta["policy.config"])
    else:
        c = default_config()
        w = random_weights(c)
    trainable = [n for n in w if not n.startswith("vision.")]
    for n in trainable:
        w[n].requires_grad_(True)
    m = Policy(c, w)
    B, G, T = 8, 8, 12
    images = torch.rand(B, c["channels"], c["image_size"], c["image_size"]) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    tokens = [[3 + (r + i) % (c["vocab"] - 3) for i in range(T - 1)] + [c["eos"]] for r in range(B * G)]

    def timeit(fn, n):
        fn()
        t0 = time.perf_counter()
        c0 = time.process_time()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n

    def fwd_bwd():
        lp, logp, mask = m.logprobs(images, G, tokens, 1.0)
        lp.sum().backward()
        for n in trainable:
            w[n].grad = None

    def no_grad():
        with torch.no_grad():
            m.logprobs(images, G, tokens, 1.0)

    wall, cpu = timeit(lambda: m.sample(images, G, T, gen), 10)
    print("sample       B=8 G=8 %d steps: %7.1f ms (cpu %7.1f ms), %.2f ms/step" % (T, wall * 1e3, cpu * 1e3, wall / T * 1e3))
    wall, cpu = timeit(fwd_bwd, 10)
    print("logprobs+bwd B=8 G=8 T=%d:     %7.1f ms (cpu %7.1f ms)" % (T, wall * 1e3, cpu * 1e3))
    wall, cpu = timeit(no_grad, 10)
    print("logprobs     no grad:          %7.1f ms (cpu %7.1f ms)" % (wall * 1e3, cpu * 1e3))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "logprobs":
        cmd_logprobs(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "bench":
        cmd_bench(sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        sys.exit(__doc__)
