#!/usr/bin/python3
"""janus.py: the oracle of the Go Janus tests (models/hf/janus) -- a TINY random Janus in
transformers' checkpoint layout and the outputs of scripts/oracles/janusref (a PyTorch 1.13
reference written for this project from transformers' modeling_janus.py; no transformers here).

Usage: /usr/bin/python3 scripts/oracles/janus.py [--out models/hf/testdata/janus]

Writes OUT/config.json (transformers' JanusConfig.to_dict layout), OUT/generation_config.json,
OUT/model.safetensors (exact Hugging Face names, float32), OUT/reference.safetensors (inputs as
int64 / float32, outputs float32) and OUT/reference.json (settings, shapes, the smallest greedy
margins). Weights are redrawn at O(1) scale (matrices ~ N(0, 1/fan_in), norm weights
~ 1 + N(0, 0.1), biases ~ N(0, 0.1)) so that greedy picks are well apart. Deterministic (fixed
seeds, CPU, float32).

Tensors of reference.safetensors:
  understanding: input_ids [2, 24] (two left-padded rows, one image of 16 placeholders each),
    attention_mask, position_ids, pixel_values [2, 3, 32, 32] (given directly, in [-1, 1]),
    image_embeds [2, 16, 64] (tower + aligner), hidden [2, 24, 64] (final norm), logits
    [2, 24, V], text_generate [2, 6] (greedy, full recompute per step)
  generation path: gen_input_ids, gen_codes (-1 where no code), gen_attention_mask,
    gen_position_ids [2, 26] (row 1 also holds an image: pixel_values[0]), gen_hidden,
    gen_image_logits [2, 26, K]
  guided generation: cfg_input_ids, cfg_attention_mask [2, 6] (prompts of 6 and 4 tokens ending
    with <begin_of_image>, left-padded with pad), cfg_codes [2, 16] (greedy, scale 5),
    cfg_pixels [2, 3, 8, 8] (VQ decode of cfg_codes), vq_codes [2, 16] (VQ encode of cfg_pixels)
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from janusref.model import JanusReference, positions_from_mask  # noqa: E402

SEED = 20250127
PAD, BOS, EOS, IMG, BOI, EOI = 0, 1, 2, 97, 98, 99
VOCAB = 100

TEXT = dict(model_type="llama", vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, hidden_act="silu",
            max_position_embeddings=128, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            attention_bias=False, mlp_bias=False, tie_word_embeddings=False, initializer_range=0.02,
            bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, attention_dropout=0.0, pretraining_tp=1,
            use_cache=True)
VISION = dict(model_type="janus_vision_model", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              num_channels=3, image_size=32, patch_size=8, layer_norm_eps=1e-6, hidden_act="gelu", mlp_ratio=2.0,
              attention_bias=True, attention_dropout=0.0, hidden_dropout_rate=0.0, projection_dim=64,
              projection_dropout=0.0, use_qk_norm=False, initializer_range=0.02, depth=2, num_image_tokens=16)
VQ = dict(model_type="janus_vqgan", embed_dim=4, num_embeddings=32, double_latent=False, latent_channels=32,
          num_patches=4, in_channels=3, out_channels=3, base_channels=32, channel_multiplier=[1, 1],
          num_res_blocks=1, dropout=0.0, initializer_range=0.02, projection_dim=64, num_hidden_layers=2,
          hidden_act="gelu", image_token_embed_dim=64)
CONFIG = dict(architectures=["JanusForConditionalGeneration"], model_type="janus", image_token_id=IMG,
              tie_word_embeddings=False, dtype="float32", transformers_version="none (scripts/oracles/janus.py)",
              text_config=TEXT, vision_config=VISION, vq_config=VQ)
GENERATION = dict(bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, guidance_scale=5, temperature=1.0,
                  boi_token_id=BOI, generation_kwargs={"boi_token_id": BOI})
SCALE = 5.0
TEXT_NEW = 6


def redraw(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() <= 1:
                p.copy_(noise * 0.1 + (0.0 if name.endswith("bias") else 1.0))
            else:
                p.copy_(noise / math.sqrt(p[0].numel()))


def write_safetensors(path, tensors):
    """The safetensors format by hand: 8-byte little-endian header size, JSON header, raw data."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js)
        for b in blobs:
            f.write(b)


def fixture_inputs():
    """The inputs of every check, from a fixed generator (scripts/oracles/hf-fixtures.py uses them too):
    a dict of tensors named as in reference.safetensors."""
    g = torch.Generator().manual_seed(SEED + 1)
    txt = lambda n: torch.randint(3, IMG, (n,), generator=g).tolist()
    N, K = VISION["num_image_tokens"], VQ["num_embeddings"]
    # Understanding: two rows of 24, one image each; row 1 left-padded by 3.
    ids = torch.tensor([[BOS] + txt(2) + [BOI] + [IMG] * N + [EOI] + txt(3),
                        [PAD] * 3 + [BOS, BOI] + [IMG] * N + [EOI] + txt(2)])
    mask = torch.tensor([[1] * 24, [0] * 3 + [1] * 21])
    px = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    # Generation path: text, an image (row 1, pixel_values[0]) and five codes per row, in 26.
    codes5 = lambda: torch.randint(0, K, (5,), generator=g).tolist()
    c0, c1 = codes5(), codes5()
    gids = torch.tensor([[PAD] * 16 + [BOS] + txt(3) + [BOI] + [0] * 5,
                         [BOS, BOI] + [IMG] * N + [EOI] + txt(1) + [BOI] + [0] * 5])
    gcodes = torch.tensor([[-1] * 21 + c0, [-1] * 21 + c1])
    gmask = torch.tensor([[0] * 16 + [1] * 10, [1] * 26])
    # Guided generation: prompts of 6 and 4 tokens, both ending with <begin_of_image>.
    cids = torch.tensor([[BOS] + txt(4) + [BOI], [PAD] * 2 + [BOS] + txt(2) + [BOI]])
    cmask = torch.tensor([[1] * 6, [0] * 2 + [1] * 4])
    return dict(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask), pixel_values=px,
                gen_input_ids=gids, gen_codes=gcodes, gen_attention_mask=gmask,
                gen_position_ids=positions_from_mask(gmask), cfg_input_ids=cids, cfg_attention_mask=cmask)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models",
                                                  "hf", "testdata", "janus"))
    out = os.path.normpath(ap.parse_args().out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_grad_enabled(False)
    model = JanusReference(CONFIG)
    redraw(model, SEED)
    ref = fixture_inputs()
    info = {"seed": SEED, "torch": torch.__version__, "scale": SCALE, "text_new": TEXT_NEW,
            "special": dict(pad=PAD, bos=BOS, eos=EOS, image=IMG, boi=BOI, eoi=EOI)}
    D = TEXT["hidden_size"]

    ids, mask, pos, px = ref["input_ids"], ref["attention_mask"], ref["position_ids"], ref["pixel_values"]
    feats = model.image_features(px)
    h = model.hidden(model.embed(ids, feats=feats.reshape(-1, D)), mask, pos)
    ref.update(image_embeds=feats, hidden=h, logits=model.text_logits(h),
               text_generate=model.generate_text(ids, mask, px, TEXT_NEW))
    top2 = model.text_logits(h)[:, -1].topk(2, -1).values
    info["text_first_margin"] = float((top2[:, 0] - top2[:, 1]).min())

    gh = model.hidden(model.embed(ref["gen_input_ids"], codes=ref["gen_codes"], feats=feats[0]),
                      ref["gen_attention_mask"], ref["gen_position_ids"])
    ref.update(gen_hidden=gh, gen_image_logits=model.image_logits(gh))

    codes, gap = model.generate_image_cfg(ref["cfg_input_ids"], ref["cfg_attention_mask"], SCALE, BOS, PAD, BOI)
    info["cfg_min_margin"] = gap
    pix = model.model.vqmodel.decode(codes)
    _, _, vq_codes = model.model.vqmodel.encode(pix)
    ref.update(cfg_codes=codes, cfg_pixels=pix, vq_codes=vq_codes.view(2, -1))

    state = dict(model.state_dict())
    write_safetensors(os.path.join(out, "model.safetensors"), state)
    write_safetensors(os.path.join(out, "reference.safetensors"), ref)
    info["shapes"] = {k: list(v.shape) for k, v in sorted(ref.items())}
    info["parameters"] = sum(v.numel() for v in state.values())
    for name, obj in (("config.json", CONFIG), ("generation_config.json", GENERATION), ("reference.json", info)):
        with open(os.path.join(out, name), "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"janus: {info['parameters']} parameters, {size / 1e6:.2f} MB in {out}; "
          f"margins: text {info['text_first_margin']:.3g}, guided codes {gap:.3g}")


if __name__ == "__main__":
    main()
