#!/usr/bin/python3
"""janus-vq.py: the fixture of the Go Janus VQ-VAE test (models/hf/janus/vq_test.go).

Usage: /usr/bin/python3 scripts/oracles/janus-vq.py [--out models/hf/testdata/janus_vq]
(PyTorch 1.13, Debian's python3-torch; no transformers or safetensors package needed.)

Oracle: scripts/oracles/janusref/vq.py, a PyTorch reference written for this project from the
semantics of transformers' modeling_janus.py (JanusVQVAE). It builds a tiny VQ-VAE, redraws its
weights so activations are O(1) (conv weights ~ N(0, 1/fan_in), GroupNorm weights ~ 1 + N(0, 0.1),
biases ~ N(0, 0.1), codebook ~ N(0, 1)), rounds them to bfloat16 (as real Janus checkpoints are
stored) and computes everything in float32 from the rounded values. It writes to --out:

  config.json        the vq_config dict (transformers' JanusVQVAEConfig keys)
  model.safetensors  the weights, BF16, under "model.vqmodel." + transformers' names
  reference.safetensors
    pixels         [B, 3, S, S] input in [-1, 1]
    z              [B, E, h, w] encoder + quant_conv
    zq             [B, E, h, w] straight-through quantised latent (z + (e - z).detach())
    codes          [B, h*w] int64, raster order
    loss           [1] embedding loss (codebook + 0.25 commitment, transformers' weighting)
    decoded        [B, 3, S, S] post_quant_conv + decoder of zq
    zq_codes       [B, E, h, w] get_codebook_entry(codes): l2-normalised codebook rows
    decoded_codes  [B, 3, S, S] transformers' decode(codes) (= forward's decoded_pixel_values)
    probe          [B, 3, S, S] fixed weights R of the scalar  f = sum(decoded * R) + loss
    grad_conv_in   d f / d encoder.conv_in.weight (flows through the straight-through estimator)
    grad_codebook  d f / d quantize.embedding.weight (only through the loss's codebook term)
    code_margin    [1] smallest gap between a latent's best and second-best code distance

The config has channel_multiplier [2, 1], so that the encoder's two levels and the decoder's
finest level change channel counts (nin_shortcut), and the in-channel multipliers (1, 2, 1)
differ from the out-channel ones.
"""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from janusref.vq import JanusVQVAE  # noqa: E402

CONFIG = {
    "embed_dim": 8,
    "num_embeddings": 64,
    "double_latent": False,
    "latent_channels": 16,
    "num_patches": 8,
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 32,
    "channel_multiplier": [2, 1],
    "num_res_blocks": 1,
    "dropout": 0.0,
    "initializer_range": 0.02,
    "projection_dim": 32,
    "num_hidden_layers": 2,
    "hidden_act": "gelu",
    "image_token_embed_dim": 32,
}
B, S = 2, 16
PREFIX = "model.vqmodel."
MIN_MARGIN = 1e-3  # codes must not hinge on float rounding


def redraw(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "quantize.embedding.weight":
                p.copy_(torch.randn(p.shape, generator=gen))
            elif p.dim() == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)
            elif "norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


def test_pixels(gen):
    ys = torch.linspace(-1, 1, S).view(1, 1, S, 1)
    xs = torch.linspace(-1, 1, S).view(1, 1, 1, S)
    base = torch.cat([torch.sin(3 * xs + 2 * ys), torch.cos(2 * xs * ys + 1), xs * ys], dim=1)
    px = base.expand(B, 3, S, S) + 0.3 * torch.randn(B, 3, S, S, generator=gen)
    return px.clamp(-1, 1).contiguous()


def code_margin(model, z):
    zp = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).double()
    cb = model.quantize.embedding.weight.double()
    d = torch.cdist(zp, cb) ** 2
    top = d.topk(2, dim=1, largest=False).values
    return float((top[:, 1] - top[:, 0]).min())


def save_safetensors(path, tensors):
    """Writes {name: tensor} (float32, bfloat16 or int64, CPU) as a safetensors file."""
    dtypes = {torch.float32: "F32", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            data = t.view(torch.int16).numpy().tobytes()
        else:
            data = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "models", "hf", "testdata", "janus_vq"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for seed in range(1000, 1100):
        gen = torch.Generator().manual_seed(seed)
        model = JanusVQVAE(CONFIG)
        redraw(model, gen)
        px = test_pixels(gen)
        with torch.no_grad():
            margin = code_margin(model, model.latent(px))
        if margin > MIN_MARGIN:
            break
    else:
        sys.exit("no seed gave well-separated codes")
    probe = torch.randn(B, 3, S, S, generator=gen)

    model.zero_grad()
    z = model.latent(px)
    zq, loss, codes = model.quantize(z)
    decoded = model.decode_latent(zq)
    f = (decoded * probe).sum() + loss
    f.backward()
    with torch.no_grad():
        h, w = z.shape[2], z.shape[3]
        codes = codes.view(B, h * w)
        zq_codes = model.quantize.get_codebook_entry(codes, h, w)
        decoded_codes = model.decode(codes, h, w)
        fwd, fwd_loss = model(px)
        assert torch.equal(fwd, decoded_codes) and torch.equal(fwd_loss, loss.detach())
    ref = {
        "pixels": px, "z": z, "zq": zq, "codes": codes, "loss": loss.detach().view(1),
        "decoded": decoded, "zq_codes": zq_codes, "decoded_codes": decoded_codes, "probe": probe,
        "grad_conv_in": model.encoder.conv_in.weight.grad,
        "grad_codebook": model.quantize.embedding.weight.grad,
        "code_margin": torch.tensor([margin], dtype=torch.float32),
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as fp:
        json.dump(CONFIG, fp, indent=2)
        fp.write("\n")
    weights = {PREFIX + k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(args.out, "model.safetensors"), weights)
    save_safetensors(os.path.join(args.out, "reference.safetensors"), ref)
    print(f"seed {seed}: {len(weights)} tensors, {sum(v.numel() for v in weights.values())} weights, "
          f"grid {h}x{w}, {len(set(codes.flatten().tolist()))} distinct codes, margin {margin:.4g}, "
          f"loss {float(loss):.6g}, |decoded| max {float(decoded.abs().max()):.4g}")


if __name__ == "__main__":
    main()
