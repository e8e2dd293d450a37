"""janusref.vq: a PyTorch (1.13) reference of Janus's VQ-VAE, written for this project from the
semantics of Hugging Face transformers' JanusVQVAE (models/janus/modeling_janus.py and
configuration_janus.py). Its state_dict names are transformers' JanusVQVAE names, so that
prefixing "model.vqmodel." gives the names of a real Janus checkpoint.

Importing it has no side effects. The model runs without dropout (transformers keeps Janus's
VQ model in eval mode).

Shapes: B batch, S image side, E embed_dim (codebook width), K num_embeddings, h, w latent grid
(S / 2**(levels-1)), L latent_channels.

What transformers does, and this reference repeats on purpose:
  - the quantiser's forward (encode) compares z with the raw codebook, without l2 normalisation;
  - get_codebook_entry (decode from token ids) l2-normalises the codebook rows it looks up;
  - embedding loss = mean((e.detach() - z)^2) + beta * mean((e - z.detach())^2), beta 0.25;
  - the straight-through latent is z + (e - z).detach().
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

GROUPS = 32  # every GroupNorm of the model has 32 groups
NORM_EPS = 1e-6
BETA = 0.25

DEFAULTS = {
    "embed_dim": 8,
    "num_embeddings": 16384,
    "double_latent": False,
    "latent_channels": 256,
    "num_patches": 32,
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 128,
    "channel_multiplier": [1, 1, 2, 2, 4],
    "num_res_blocks": 2,
    "dropout": 0.0,
    "initializer_range": 0.02,
    "projection_dim": 2048,
    "num_hidden_layers": 2,
    "hidden_act": "gelu",
    "image_token_embed_dim": 2048,
}


def full_config(cfg):
    """The vq_config dict with transformers' JanusVQVAEConfig defaults for absent keys."""
    out = dict(DEFAULTS)
    out.update(cfg or {})
    return out


def _norm(channels):
    return nn.GroupNorm(GROUPS, channels, eps=NORM_EPS, affine=True)


def _swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    """norm1, swish, conv1 (3x3), norm2, swish, conv2 (3x3), plus the input, passed through a
    1x1 nin_shortcut when the channel count changes."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.norm1 = _norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2 = _norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        if c_in != c_out:
            self.nin_shortcut = nn.Conv2d(c_in, c_out, 1, 1, 0)

    def forward(self, x):
        y = self.conv1(_swish(self.norm1(x)))
        y = self.conv2(_swish(self.norm2(y)))
        skip = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return skip + y


class AttnBlock(nn.Module):
    """Single-head self-attention over the h*w positions, 1x1 convolutions for q, k, v and the
    output, scaled by C^-0.5, added to the input."""

    def __init__(self, c):
        super().__init__()
        self.norm = _norm(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        n = self.norm(x)
        b, c, h, w = x.shape
        q = self.q(n).reshape(b, c, h * w).permute(0, 2, 1)  # [B, hw, C]
        k = self.k(n).reshape(b, c, h * w)  # [B, C, hw]
        v = self.v(n).reshape(b, c, h * w)
        att = torch.softmax(torch.bmm(q, k) * (int(c) ** -0.5), dim=2)  # [B, query, key]
        out = torch.bmm(v, att.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Zero-pad one column right and one row below, then a 3x3 convolution of stride 2."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0))


class Upsample(nn.Module):
    """Nearest-neighbour 2x upsampling, then a 3x3 convolution."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1 = ResnetBlock(c, c)
        self.attn_1 = AttnBlock(c)
        self.block_2 = ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        base, mult = cfg["base_channels"], list(cfg["channel_multiplier"])
        levels, nb = len(mult), cfg["num_res_blocks"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], base, 3, 1, 1)
        in_mult = [1] + mult
        self.down = nn.ModuleList()
        c = base
        for lvl in range(levels):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()
            c = base * in_mult[lvl]
            for _ in range(nb):
                stage.block.append(ResnetBlock(c, base * mult[lvl]))
                c = base * mult[lvl]
                if lvl == levels - 1:
                    stage.attn.append(AttnBlock(c))
            if lvl != levels - 1:
                stage.downsample = Downsample(c)
            self.down.append(stage)
        self.mid = MidBlock(c)
        self.norm_out = _norm(c)
        latent = cfg["latent_channels"] * (2 if cfg["double_latent"] else 1)
        self.conv_out = nn.Conv2d(c, latent, 3, 1, 1)

    def forward(self, x):
        x = self.conv_in(x)
        for lvl, stage in enumerate(self.down):
            for i, block in enumerate(stage.block):
                x = block(x)
                if len(stage.attn) > 0:
                    x = stage.attn[i](x)
            if hasattr(stage, "downsample"):
                x = stage.downsample(x)
        x = self.mid(x)
        return self.conv_out(_swish(self.norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        base, mult = cfg["base_channels"], list(cfg["channel_multiplier"])
        levels, nb = len(mult), cfg["num_res_blocks"]
        c = base * mult[-1]
        self.conv_in = nn.Conv2d(cfg["latent_channels"], c, 3, 1, 1)
        self.mid = MidBlock(c)
        # up[0] is the coarsest level (the last multiplier), up[-1] the finest.
        self.up = nn.ModuleList()
        for lvl in reversed(range(levels)):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()
            for _ in range(nb + 1):
                stage.block.append(ResnetBlock(c, base * mult[lvl]))
                c = base * mult[lvl]
                if lvl == levels - 1:
                    stage.attn.append(AttnBlock(c))
            if lvl != 0:
                stage.upsample = Upsample(c)
            self.up.append(stage)
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, cfg["out_channels"], 3, 1, 1)

    def forward(self, x):
        x = self.mid(self.conv_in(x))
        for stage in self.up:
            for i, block in enumerate(stage.block):
                x = block(x)
                if len(stage.attn) > 0:
                    x = stage.attn[i](x)
            if hasattr(stage, "upsample"):
                x = stage.upsample(x)
        return self.conv_out(_swish(self.norm_out(x)))


class VectorQuantizer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embedding = nn.Embedding(cfg["num_embeddings"], cfg["embed_dim"])
        self.grid = cfg["num_patches"]

    def forward(self, z):
        """z [B, E, h, w] -> (zq [B, E, h, w] straight-through, loss, codes [B*h*w])."""
        e_dim = self.embedding.weight.shape[1]
        zp = z.permute(0, 2, 3, 1).contiguous()  # [B, h, w, E]
        flat = zp.view(-1, e_dim)
        cb = self.embedding.weight
        dist = (flat ** 2).sum(1, keepdim=True) + (cb ** 2).sum(1) - 2 * flat @ cb.t()
        codes = dist.argmin(dim=1)
        e = self.embedding(codes).view(zp.shape)
        loss = ((e.detach() - zp) ** 2).mean() + BETA * ((e - zp.detach()) ** 2).mean()
        zq = zp + (e - zp).detach()
        return zq.permute(0, 3, 1, 2).contiguous(), loss, codes

    def get_codebook_entry(self, codes, h=None, w=None):
        """codes [B, h*w] -> l2-normalised codebook rows [B, E, h, w] (h = w = num_patches
        unless given)."""
        h = self.grid if h is None else h
        w = self.grid if w is None else w
        e = F.normalize(self.embedding(codes), p=2, dim=-1)
        return e.view(codes.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()


class JanusVQVAE(nn.Module):
    """transformers' JanusVQVAE: encoder, quantize, quant_conv, post_quant_conv, decoder."""

    def __init__(self, cfg=None):
        super().__init__()
        cfg = full_config(cfg)
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.quantize = VectorQuantizer(cfg)
        self.quant_conv = nn.Conv2d(cfg["latent_channels"], cfg["embed_dim"], 1)
        self.post_quant_conv = nn.Conv2d(cfg["embed_dim"], cfg["latent_channels"], 1)
        self.decoder = Decoder(cfg)
        self.eval()

    def init_weights(self, generator=None):
        """transformers' _init_weights: conv weights and the codebook ~ N(0, initializer_range),
        conv biases 0, GroupNorm weight 1 and bias 0."""
        std = self.config["initializer_range"]
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.weight.normal_(0.0, std, generator=generator)
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, nn.GroupNorm):
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                elif isinstance(m, nn.Embedding):
                    m.weight.normal_(0.0, std, generator=generator)

    def latent(self, pixel_values):
        """pixels [B, C, S, S] -> pre-quantisation latent z [B, E, h, w]."""
        return self.quant_conv(self.encoder(pixel_values))

    def encode(self, pixel_values):
        """As transformers: (zq straight-through, embedding loss, codes [B*h*w])."""
        return self.quantize(self.latent(pixel_values))

    def decode_latent(self, zq):
        """zq [B, E, h, w] -> pixels [B, out_channels, S, S]."""
        return self.decoder(self.post_quant_conv(zq))

    def decode(self, image_tokens, h=None, w=None):
        """As transformers' decode: token ids [B, h*w] -> pixels, through the l2-normalised
        codebook entries."""
        return self.decode_latent(self.quantize.get_codebook_entry(image_tokens, h, w))

    def forward(self, pixel_values):
        """As transformers' forward: (pixels decoded from the codes, embedding loss)."""
        b = pixel_values.shape[0]
        z = self.latent(pixel_values)
        _, loss, codes = self.quantize(z)
        g = z.shape[2]
        return self.decode(codes.view(b, -1), g, z.shape[3]), loss


def parameter_count(cfg):
    return sum(p.numel() for p in JanusVQVAE(cfg).parameters())


if __name__ == "__main__":  # a quick self-check, only when run as a script
    m = JanusVQVAE({"base_channels": 32, "channel_multiplier": [1, 2], "num_res_blocks": 1,
                    "latent_channels": 32, "num_embeddings": 64, "num_patches": 8})
    x = torch.randn(1, 3, 16, 16)
    rec, loss = m(x)
    print(tuple(rec.shape), float(loss), math.isfinite(float(loss)))
