"""janusref.model: a PyTorch (1.13) reference of Janus / Janus-Pro, written for this project from
the semantics of Hugging Face transformers' JanusForConditionalGeneration (models/janus/
modeling_janus.py, configuration_janus.py) and of the Llama decoder it uses. No transformers
code is imported or copied; the state_dict names are those of a transformers Janus checkpoint
(model.vision_model.*, model.aligner.*, model.vqmodel.*, model.generation_*,
model.language_model.*, lm_head.weight). The VQ-VAE is janusref.vq's.

Everything runs without cache: a generation step recomputes the whole sequence, so the Go
decoder's key/value cache is checked against plain full forward passes.

Shapes: B rows, T positions, D text width, Dv vision width, G grid side (image_size /
patch_size), N = G*G image tokens, K codebook size, E code width, V vocabulary.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

from .vq import JanusVQVAE, full_config as full_vq_config


def act_fn(name):
    if name == "gelu":
        return F.gelu
    if name in ("gelu_pytorch_tanh", "gelu_new"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "silu":
        return F.silu
    raise ValueError(f"activation {name}")


# ---------------------------------------------------------------- the Llama decoder

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rotary_tables(pos, dh, theta):
    """cos, sin [B, 1, T, Dh] of positions pos [B, T] (frequencies shared by both halves)."""
    inv = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    ang = pos[..., None].float() * inv  # [B, T, Dh/2]
    ang = torch.cat([ang, ang], -1)
    return ang.cos()[:, None], ang.sin()[:, None]


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv = c["num_attention_heads"], c["num_key_value_heads"]
        self.dh = c.get("head_dim") or c["hidden_size"] // self.h
        d, bias = c["hidden_size"], c.get("attention_bias", False)
        self.q_proj = nn.Linear(d, self.h * self.dh, bias=bias)
        self.k_proj = nn.Linear(d, self.kv * self.dh, bias=bias)
        self.v_proj = nn.Linear(d, self.kv * self.dh, bias=bias)
        self.o_proj = nn.Linear(self.h * self.dh, d, bias=bias)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.dh).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = (q @ k.transpose(2, 3)) / math.sqrt(self.dh) + mask
        o = torch.softmax(s.float(), -1).to(q.dtype) @ v
        return self.o_proj(o.transpose(1, 2).reshape(B, T, self.h * self.dh))


class LlamaMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f, bias = c["hidden_size"], c["intermediate_size"], c.get("mlp_bias", False)
        self.gate_proj = nn.Linear(d, f, bias=bias)
        self.up_proj = nn.Linear(d, f, bias=bias)
        self.down_proj = nn.Linear(f, d, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = LlamaAttention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = LlamaMLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """The decoder without head: inputs_embeds -> final-norm hidden states."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([LlamaLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, embeds, mask2d, pos):
        """embeds [B, T, D], mask2d [B, T] (1 = real token, 0 = padding), pos [B, T]."""
        B, T, _ = embeds.shape
        c = self.c
        dh = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        cos, sin = rotary_tables(pos, dh, c["rope_parameters"]["rope_theta"])
        open_ = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & mask2d.bool()[:, None, :]
        mask = torch.zeros(B, 1, T, T).masked_fill(~open_[:, None], torch.finfo(torch.float32).min)
        x = embeds
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x)


# ---------------------------------------------------------------- the understanding tower

class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.patch_embedding = nn.Conv2d(c["num_channels"], d, kernel_size=p, stride=p)
        self.position_embedding = nn.Embedding((c["image_size"] // p) ** 2, d)

    def forward(self, px):
        x = self.patch_embedding(px).flatten(2).transpose(1, 2)  # [B, N, Dv], raster order
        return x + self.position_embedding.weight[None]


class VisionAttention(nn.Module):
    """Multi-head self-attention whose output projection is named projection_layer."""

    def __init__(self, c):
        super().__init__()
        d, self.h = c["hidden_size"], c["num_attention_heads"]
        bias = c["attention_bias"]
        self.q_proj = nn.Linear(d, d, bias=bias)
        self.k_proj = nn.Linear(d, d, bias=bias)
        self.v_proj = nn.Linear(d, d, bias=bias)
        self.projection_layer = nn.Linear(d, d)

    def forward(self, x):
        B, T, D = x.shape
        dh = D // self.h
        q, k, v = (p(x).view(B, T, self.h, dh).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        w = torch.softmax(((q @ k.transpose(2, 3)) * dh ** -0.5).float(), -1).to(q.dtype)
        return self.projection_layer((w @ v).transpose(1, 2).reshape(B, T, D))


class VisionMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        f = int(d * c["mlp_ratio"])
        self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)
        self.act = act_fn(c["hidden_act"])

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class VisionLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.self_attn = VisionAttention(c)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)
        self.mlp = VisionMLP(c)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class VisionEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([VisionLayer(c) for _ in range(c["num_hidden_layers"])])


class VisionModel(nn.Module):
    """The SigLIP-style tower: patch + position embeddings (no class token), pre-norm layers,
    post_layernorm; its last_hidden_state feeds the aligner."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = VisionEmbeddings(c)
        self.encoder = VisionEncoder(c)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, px):
        x = self.embeddings(px)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


class AlignerMLP(nn.Module):
    """fc1, then (activation, Linear) per hidden layer: both the vision aligner (depth Linear
    layers) and the generation aligner (num_hidden_layers)."""

    def __init__(self, d_in, d_out, n, act):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_out)
        self.hidden_layers = nn.ModuleList([nn.Linear(d_out, d_out) for _ in range(1, n)])
        self.act = act_fn(act)

    def forward(self, x):
        x = self.fc1(x)
        for layer in self.hidden_layers:
            x = layer(self.act(x))
        return x


class GenerationHead(nn.Module):
    def __init__(self, q):
        super().__init__()
        self.proj_out = nn.Linear(q["image_token_embed_dim"], q["projection_dim"])
        self.vision_head = nn.Linear(q["projection_dim"], q["num_embeddings"])
        self.act = act_fn(q["hidden_act"])

    def forward(self, h):
        return self.vision_head(self.act(self.proj_out(h)))


class JanusModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, q, t = cfg["vision_config"], cfg["vq_config"], cfg["text_config"]
        self.vision_model = VisionModel(v)
        self.aligner = AlignerMLP(v["hidden_size"], v["projection_dim"], v["depth"], v["hidden_act"])
        self.vqmodel = JanusVQVAE(q)
        self.generation_embeddings = nn.Embedding(q["num_embeddings"], q["embed_dim"])
        self.generation_aligner = AlignerMLP(q["embed_dim"], q["projection_dim"], q["num_hidden_layers"], q["hidden_act"])
        self.generation_head = GenerationHead(q)
        self.language_model = LlamaModel(t)


def positions_from_mask(mask):
    """Left padding: real tokens count 0, 1, ...; padding positions are 1."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)


class JanusReference(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg = dict(cfg)
        cfg["vq_config"] = full_vq_config(cfg["vq_config"])
        v = cfg["vision_config"]
        cfg["vq_config"]["num_patches"] = v["image_size"] // v["patch_size"]
        self.cfg = cfg
        self.model = JanusModel(cfg)
        t = cfg["text_config"]
        self.lm_head = nn.Linear(t["hidden_size"], t["vocab_size"], bias=False)
        self.eval()

    # -- pieces
    def image_features(self, px):
        """pixels [B, C, S, S] -> aligner(tower(px)) [B, N, D]."""
        return self.model.aligner(self.model.vision_model(px))

    def code_embeddings(self, codes):
        return self.model.generation_aligner(self.model.generation_embeddings(codes))

    def embed(self, ids, codes=None, feats=None):
        """Token embeddings; placeholders (not at code positions) take the rows of feats [P, D] in
        row-major order (masked_scatter); code positions (codes >= 0) take the code embeddings."""
        x = self.model.language_model.embed_tokens(ids.clamp(min=0))
        is_code = codes >= 0 if codes is not None else torch.zeros_like(ids, dtype=torch.bool)
        if feats is not None:
            holders = (ids == self.cfg["image_token_id"]) & ~is_code
            assert int(holders.sum()) == feats.shape[0], (int(holders.sum()), feats.shape)
            x = x.masked_scatter(holders[..., None].expand_as(x), feats.to(x.dtype))
        if codes is not None and bool(is_code.any()):
            x = x.clone()
            x[is_code] = self.code_embeddings(codes[is_code])
        return x

    def hidden(self, embeds, mask, pos=None):
        pos = positions_from_mask(mask) if pos is None else pos
        return self.model.language_model(embeds, mask, pos)

    def text_logits(self, h):
        return self.lm_head(h)

    def image_logits(self, h):
        return self.model.generation_head(h)

    # -- generation, every step a full forward pass
    @torch.no_grad()
    def generate_text(self, ids, mask, px, n):
        """n greedy tokens (argmax, first on ties) after left-padded prompts holding placeholders."""
        feats = self.image_features(px).reshape(-1, self.cfg["text_config"]["hidden_size"]) if px is not None else None
        out = []
        for _ in range(n):
            h = self.hidden(self.embed(ids, feats=feats), mask)
            nxt = self.text_logits(h[:, -1]).argmax(-1, keepdim=True)
            out.append(nxt)
            ids, mask = torch.cat([ids, nxt], 1), torch.cat([mask, torch.ones_like(nxt)], 1)
        return torch.cat(out, 1)

    @torch.no_grad()
    def generate_image_cfg(self, ids, mask, scale, bos, pad, boi, greedy=True, generator=None, temperature=1.0):
        """transformers' generate(generation_mode="image"): rows [cond; uncond], the uncond twin's
        tokens all pad but bos and boi, mask repeated; per step generation_head on the last
        position, uncond + scale * (cond - uncond), argmax (or a draw at temperature), the code fed
        back to both halves through generation_embeddings + generation_aligner. Returns the
        codes [B, N] and the smallest gap between the best and second-best mixed logits."""
        B = ids.shape[0]
        n = self.cfg["vision_config"]["num_image_tokens"]
        tok = ids.repeat(2, 1)
        keep = (tok[B:] == bos) | (tok[B:] == boi)
        tok[B:] = tok[B:].masked_fill(~keep, pad)
        mask2 = mask.repeat(2, 1)
        prompt = self.embed(tok)
        codes = torch.zeros(2 * B, 0, dtype=torch.long)
        out, gap = [], float("inf")
        for _ in range(n):
            emb = torch.cat([prompt, self.code_embeddings(codes)], 1)
            m = torch.cat([mask2, torch.ones(2 * B, codes.shape[1], dtype=mask2.dtype)], 1)
            s = self.image_logits(self.hidden(emb, m)[:, -1])
            cond, uncond = s[:B], s[B:]
            mixed = uncond + (cond - uncond) * scale
            top2 = mixed.topk(2, -1).values
            gap = min(gap, float((top2[:, 0] - top2[:, 1]).min()))
            if greedy:
                nxt = mixed.argmax(-1)
            else:
                nxt = torch.multinomial(torch.softmax(mixed / temperature, -1), 1, generator=generator).squeeze(-1)
            out.append(nxt)
            codes = torch.cat([codes, torch.cat([nxt, nxt])[:, None]], 1)
        return torch.stack(out, 1), gap
