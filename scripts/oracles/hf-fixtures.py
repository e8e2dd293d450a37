#!/usr/bin/env python3
"""hf-fixtures.py: tiny Hugging Face models and their outputs -- the oracle for the Go tests of the
model families, which must agree with it within 1e-4 (float32).  Usage: hf-fixtures.py --out DIR

Each family gets DIR/<family>/: a TINY random model built from a config (CPU, float32, fixed seeds)
and saved with save_pretrained (config.json, model.safetensors); a byte-level BPE tokenizer trained
here on a fixed text (tokenizer.json, tokenizer_config.json) or an image processor config
(preprocessor_config.json) with the test image (image.png, 45x37 so that processors must resize);
expected.safetensors (inputs, logits, hidden states -- index 0 = embeddings --, pixel values, pooled
outputs); expected.json (texts and token ids, shapes, greedy generations by model.generate and by a
plain argmax loop, versions, the route taken, non-fatal errors); error.txt only if the family failed.

  llama          LlamaForCausalLM, GQA (4 query / 2 key-value heads), untied lm_head
  qwen2          Qwen2ForCausalLM, GQA, q/k/v biases
  qwen2_5_vl     Qwen2_5_VLForConditionalGeneration: windowed vision tower, M-RoPE text model
  clip_vision    CLIPVisionModelWithProjection
  dinov2         Dinov2Model; position embeddings for a 6x6 grid used at 4x4 (interpolated, as real
                 checkpoints always are)
  siglip_vision  SiglipVisionModel with its attention-pooling head
  janus          JanusForConditionalGeneration with the config and inputs of scripts/oracles/janus.py
                 (tensors named as its reference.safetensors; guided image codes by generate())

Weights are redrawn after construction (matrices ~ N(0, 1/fan_in), norm weights ~ 1 + N(0, 0.1),
biases ~ N(0, 0.1)) so activations are O(1), greedy picks are well apart and an ignored norm weight
shows. Attention is eager. Outputs at left-padding positions mean nothing: do not compare them.
Exit status 0 when at least one family succeeded, else 1.
"""
import argparse
import importlib
import inspect
import json
import math
import os
import sys
import traceback

import numpy as np
import PIL
import torch
import transformers
from PIL import Image
from safetensors.torch import save_file

SEED = 1234
TF_MAJOR = int(transformers.__version__.split(".")[0])
IMAGE_W, IMAGE_H = 45, 37  # unlike any model's input size

# The tokenizers' training text, fixed so that vocabularies and merges never change.
CORPUS = """\
The old lighthouse stood on a rock at the edge of the bay, and every evening the keeper climbed the
one hundred and twelve stairs to light the lamp. He kept a small notebook of the weather, the ships
that passed and the birds that rested on the rail. In winter the wind came from the north and the
waves broke white against the stones; in summer the sea was calm and so clear that he could see fish
moving between the weeds. Ships passed the rocks at night, and their captains trusted the light.
A fishing boat named the Morning Star came home late one autumn with a broken mast, and the keeper
watched it for an hour until it reached the harbour. He wrote: seven o'clock, fog, one boat, no harm.
Once a year a supply ship brought oil, flour, coffee, letters and new books. The keeper read the
letters twice and the books three times: stories of travellers who walked across deserts, engineers
who built bridges over rivers, and scientists who counted stars and measured the tides. On clear
nights he counted stars himself, four hundred and nine above the eastern hill, and never finished.
Children from the village sometimes rowed out to visit. They asked how the lamp worked and whether
he was ever lonely. He showed them the lenses, the brass gears and the heavy weights that turned the
light, and told them that a person who watches the sea is never alone, because the sea is talking.
"""
PROMPTS = ["The keeper climbed the stairs to light the lamp.", "Ships passed the rocks at night."]
SAMPLE_TEXTS = ["Hello world", "The keeper wrote 112 stairs, 7 o'clock and 2,000 stars.",
                "  leading spaces,\ttabs and\nnew lines  ", "caf\u00e9 na\u00efve \u2014 \u2713 \u4f60\u597d",
                "<|im_start|>user\nWhat is the light?<|im_end|>"]


def rope_kwargs(theta, mrope_section=None):
    """RoPE settings as this transformers wants them: 4.x rope_theta (+ rope_scaling for M-RoPE),
    5.x a single rope_parameters dict."""
    if TF_MAJOR >= 5:
        params = {"rope_type": "default", "rope_theta": theta}
        return {"rope_parameters": dict(params, mrope_section=mrope_section) if mrope_section else params}
    kw = {"rope_theta": theta}
    if mrope_section:
        kw["rope_scaling"] = {"type": "mrope", "mrope_section": mrope_section}
    return kw


def make_config(cls, **kw):
    """A config that asks for eager attention (plain softmax, no fused kernel)."""
    try:
        return cls(attn_implementation="eager", **kw)
    except TypeError:  # a version that refuses the keyword: set it afterwards
        cfg = cls(**kw)
        cfg._attn_implementation = "eager"
        return cfg


def build_model(model_cls, cfg):
    """The model in eval mode, its parameters redrawn at O(1) scale (see the module docstring)."""
    torch.manual_seed(SEED)
    model = model_cls(cfg).eval()
    try:
        model.set_attn_implementation("eager")  # 4.56+ and 5.x; reaches the sub-models too
    except Exception:
        pass
    gen = torch.Generator().manual_seed(SEED)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=gen)
        if p.dim() <= 1:  # biases around 0, norm weights and layer scales around 1
            p.copy_(noise * 0.1 + (0.0 if name.endswith("bias") else 1.0))
        else:  # Linear / Embedding [out, in] and Conv [out, in, k...]: fan-in; 3-D tables: last dim
            p.copy_(noise / math.sqrt(p[0].numel() if p.dim() in (2, 4, 5) else p.shape[-1]))
    return model


def save_model(model, d, info):
    try:
        model.save_pretrained(d, safe_serialization=True)
    except TypeError:  # a version without the keyword always writes safetensors
        model.save_pretrained(d)
    info["model_class"] = type(model).__name__
    info["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
    try:
        info["tied_embeddings"] = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    except Exception:
        pass


def build_tokenizer(specials, bos, eos, pad, add_bos):
    """Byte-level BPE (GPT-2 pre-tokenizer) trained on CORPUS, the special tokens appended after the
    learned vocabulary as added tokens (as Llama 3 and Qwen have them), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(CORPUS.splitlines(), trainer=trainers.BpeTrainer(
        vocab_size=360, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tk.add_special_tokens(specials)
    if add_bos:  # Llama: the post-processor puts BOS in front
        tk.post_processor = processors.TemplateProcessing(
            single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, tk.token_to_id(bos))])
    else:  # Qwen: nothing is added
        tk.post_processor = processors.ByteLevel(trim_offsets=False)
    wrapper = getattr(transformers, "PreTrainedTokenizerFast", None) or transformers.TokenizersBackend
    tok = wrapper(tokenizer_object=tk, bos_token=bos, eos_token=eos, pad_token=pad)
    samples = [{"text": t, "ids": tok(t)["input_ids"], "decoded": tok.decode(tok(t)["input_ids"]),
                "ids_no_special": tok(t, add_special_tokens=False)["input_ids"]} for t in SAMPLE_TEXTS]
    info = {"class": type(tok).__name__, "len": len(tok), "bos": bos, "eos": eos, "pad": pad,
            "special_token_ids": {t: tok.convert_tokens_to_ids(t) for t in specials}, "samples": samples}
    return tok, info


def positions_from_mask(mask):
    """Position ids as generate() derives them under left padding: only real tokens count."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)


def forget_rope_deltas(model):
    """Qwen-VL models keep M-RoPE offsets between calls; each of our calls starts afresh."""
    for owner in (model, getattr(model, "model", None)):
        if hasattr(owner, "rope_deltas"):
            owner.rope_deltas = None


def greedy_by_hand(model, n, input_ids, attention_mask, with_positions, mm_token_type_ids=None, **extra):
    """n greedy tokens by a plain loop: a full forward per step, no KV cache, argmax of the last logits."""
    ids, mask, types = input_ids, attention_mask, mm_token_type_ids
    for _ in range(n):
        forget_rope_deltas(model)
        kw = dict(input_ids=ids, attention_mask=mask, use_cache=False, **extra)
        if with_positions:
            kw["position_ids"] = positions_from_mask(mask)
        if types is not None:
            kw["mm_token_type_ids"] = types
        nxt = model(**kw).logits[:, -1].argmax(-1, keepdim=True)
        ids, mask = torch.cat([ids, nxt], 1), torch.cat([mask, torch.ones_like(nxt)], 1)
        if types is not None:
            types = torch.cat([types, torch.zeros_like(nxt)], 1)
    return ids[:, -n:]


def record_generation(info, model, n, inputs, with_positions):
    """Greedy continuation two ways (model.generate, and the argmax loop above); 'agree' compares them."""
    gen = {"max_new_tokens": n, "generate": None, "by_hand": None}
    try:
        gen["by_hand"] = greedy_by_hand(model, n, with_positions=with_positions, **inputs).tolist()
    except Exception:
        gen["by_hand_error"] = traceback.format_exc()
    try:
        model.generation_config.eos_token_id = None  # never stop early: always n new tokens
        forget_rope_deltas(model)
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
        gen["generate"] = out[:, inputs["input_ids"].shape[1]:].tolist()
    except Exception:
        gen["generate_error"] = traceback.format_exc()
    gen["agree"] = gen["by_hand"] is not None and gen["by_hand"] == gen["generate"]
    info["generation"] = gen


def language_family(d, info, tensors, model_cls, cfg_cls, cfg_kw, specials, bos, eos, pad, add_bos):
    tok, info["tokenizer"] = build_tokenizer(specials, bos, eos, pad, add_bos)
    tok.save_pretrained(d)
    sid = info["tokenizer"]["special_token_ids"]
    cfg_kw = dict(cfg_kw, vocab_size=-(-len(tok) // 64) * 64, tie_word_embeddings=False,
                  bos_token_id=sid.get(bos), eos_token_id=sid[eos], pad_token_id=sid[pad])
    info["config_kwargs"] = cfg_kw
    model = build_model(model_cls, make_config(cfg_cls, **cfg_kw))
    save_model(model, d, info)

    # Batch 2, length 7: row 0 = 2 left pads + 5 tokens of PROMPTS[1], row 1 = 7 tokens of PROMPTS[0].
    long_row, short_row = tok(PROMPTS[0])["input_ids"][:7], tok(PROMPTS[1])["input_ids"][:5]
    assert len(long_row) == 7 and len(short_row) == 5, (long_row, short_row)
    ids = torch.tensor([[sid[pad]] * 2 + short_row, long_row])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7])
    pos = positions_from_mask(mask)
    info["inputs"] = {"prompts": PROMPTS, "row_texts": [tok.decode(r) for r in (short_row, long_row)],
                      "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": pos.tolist()}
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False, output_hidden_states=True)
    tensors.update(input_ids=ids, attention_mask=mask, position_ids=pos, logits=out.logits)
    tensors.update({f"hidden_states.{i}": h for i, h in enumerate(out.hidden_states or ())})
    model.generation_config.pad_token_id = sid[pad]
    record_generation(info, model, 8, {"input_ids": ids, "attention_mask": mask}, with_positions=True)


def family_llama(d, info, tensors):
    cfg = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, hidden_act="silu",
               **rope_kwargs(500000.0))
    language_family(d, info, tensors, transformers.LlamaForCausalLM, transformers.LlamaConfig, cfg,
                    ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"],
                    bos="<|begin_of_text|>", eos="<|end_of_text|>", pad="<|pad|>", add_bos=True)


def family_qwen2(d, info, tensors):
    cfg = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, hidden_act="silu",
               use_sliding_window=False, **rope_kwargs(1000000.0))
    language_family(d, info, tensors, transformers.Qwen2ForCausalLM, transformers.Qwen2Config, cfg,
                    ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                    bos=None, eos="<|im_end|>", pad="<|endoftext|>", add_bos=False)


def test_image(d):
    """A fixed RGB gradient, IMAGE_W x IMAGE_H, also written to d/image.png."""
    y, x = np.mgrid[0:IMAGE_H, 0:IMAGE_W]
    rgb = np.stack([x * 255 // (IMAGE_W - 1), y * 255 // (IMAGE_H - 1), (7 * x + 13 * y) % 256], axis=-1)
    img = Image.fromarray(rgb.astype(np.uint8), "RGB")
    img.save(os.path.join(d, "image.png"))
    return img


def find_class(folder, name):
    """transformers.<name>, or else the class from its model folder (should the top level not export it)."""
    try:
        return getattr(transformers, name)
    except Exception:
        for module in (f"image_processing_pil_{folder}", f"image_processing_{folder}"):
            try:
                return getattr(importlib.import_module(f"transformers.models.{folder}.{module}"), name)
            except Exception:
                pass
        raise


def run_image_processor(d, info, folder, names, img, **kwargs):
    """The first class in names that exists here and processes img; its config is saved in d. The
    5.x *Pil classes need no torchvision and do what 4.x's numpy/PIL classes do, so they come first."""
    tried = []
    for name in names:
        try:
            ip = find_class(folder, name)(**kwargs)
            feats = ip(images=img, return_tensors="pt")
        except Exception as e:
            tried.append(f"{name}: {type(e).__name__}: {e}")
            continue
        ip.save_pretrained(d)
        info.update(image_processor_class=name, image_processor_attempts=tried)
        return ip, feats
    raise RuntimeError("no image processor worked: " + " | ".join(tried))


def vision_family(d, info, tensors, model, folder, ip_names, ip_kwargs):
    save_model(model, d, info)
    img = test_image(d)
    _, feats = run_image_processor(d, info, folder, ip_names, img, **ip_kwargs)
    pv = feats["pixel_values"].float()
    out = model(pixel_values=pv, output_hidden_states=True)
    tensors.update(image_rgb=torch.from_numpy(np.array(img)), pixel_values=pv, last_hidden_state=out.last_hidden_state)
    tensors.update({f"hidden_states.{i}": h for i, h in enumerate(out.hidden_states or ())})
    tensors.update({k: getattr(out, k) for k in ("pooler_output", "image_embeds") if getattr(out, k, None) is not None})
    return pv


def family_clip_vision(d, info, tensors):
    cfg = make_config(transformers.CLIPVisionConfig, hidden_size=32, intermediate_size=64, projection_dim=16,
                      num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8,
                      hidden_act="quick_gelu", layer_norm_eps=1e-5)
    model = build_model(transformers.CLIPVisionModelWithProjection, cfg)
    pv = vision_family(d, info, tensors, model, "clip", ["CLIPImageProcessorPil", "CLIPImageProcessor"],
                       dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}))
    try:  # the projection model's output has no pooler_output: take it from the tower itself
        tensors["pooler_output"] = model.vision_model(pixel_values=pv).pooler_output
    except Exception:
        info["errors"].append(traceback.format_exc())


def family_dinov2(d, info, tensors):
    cfg = make_config(transformers.Dinov2Config, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      mlp_ratio=2, image_size=48, patch_size=8, layer_norm_eps=1e-6, hidden_act="gelu")
    info["note"] = "position embeddings for a 6x6 grid (image_size 48) are interpolated to the 4x4 grid of 32x32 input"
    vision_family(d, info, tensors, build_model(transformers.Dinov2Model, cfg),
                  "bit", ["BitImageProcessorPil", "BitImageProcessor"],
                  dict(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32},
                       resample=Image.Resampling.BICUBIC, image_mean=[0.485, 0.456, 0.406],
                       image_std=[0.229, 0.224, 0.225]))  # ImageNet statistics, as DINOv2 checkpoints use


def family_siglip_vision(d, info, tensors):
    cfg = make_config(transformers.SiglipVisionConfig, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, image_size=32, patch_size=8, hidden_act="gelu_pytorch_tanh",
                      layer_norm_eps=1e-6)
    vision_family(d, info, tensors, build_model(transformers.SiglipVisionModel, cfg),
                  "siglip", ["SiglipImageProcessorPil", "SiglipImageProcessor"], dict(size={"height": 32, "width": 32}))


def qwen_processor(ip, tok, d, vision_kw):
    """Qwen2_5_VLProcessor from its parts. Versions insist on different things (a video processor,
    which needs torchvision; a Qwen2 tokenizer class), so try the combinations in turn."""
    errors, toks, videos = [], [tok], [None]
    try:  # 4.x checks the tokenizer's class: it wants a Qwen2TokenizerFast (read from tokenizer.json in d)
        toks.append(transformers.Qwen2TokenizerFast.from_pretrained(d))
    except Exception as e:
        errors.append(f"Qwen2TokenizerFast: {type(e).__name__}: {e}")
    try:  # some versions will not go without a video processor, which needs torchvision
        videos.insert(0, transformers.Qwen2VLVideoProcessor(**vision_kw))
    except Exception as e:
        errors.append(f"Qwen2VLVideoProcessor: {type(e).__name__}: {e}")
    for t in toks:
        for v in videos:
            kw = dict(image_processor=ip, tokenizer=t, **({"video_processor": v} if v is not None else {}))
            try:
                return transformers.Qwen2_5_VLProcessor(**kw), errors
            except Exception as e:
                errors.append(f"Qwen2_5_VLProcessor({type(t).__name__}, video processor: {v is not None}): "
                              f"{type(e).__name__}: {e}")
    return None, errors


def family_qwen2_5_vl(d, info, tensors):
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tok, info["tokenizer"] = build_tokenizer(specials, None, "<|im_end|>", "<|endoftext|>", add_bos=False)
    tok.save_pretrained(d)
    sid = info["tokenizer"]["special_token_ids"]
    text_cfg = dict(vocab_size=-(-len(tok) // 64) * 64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, hidden_act="silu", max_position_embeddings=256,
                    rms_norm_eps=1e-6, use_sliding_window=False, tie_word_embeddings=False,
                    bos_token_id=sid["<|endoftext|>"], eos_token_id=sid["<|im_end|>"],
                    pad_token_id=sid["<|endoftext|>"],
                    **rope_kwargs(1000000.0, mrope_section=[2, 3, 3]))  # head_dim 16 = 8 rotary pairs = 2+3+3
    # window_size 32 px = 2x2 merged tokens (window_size // spatial_merge_size // patch_size); block 1 is global
    vision_cfg = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=8,
                      temporal_patch_size=2, spatial_merge_size=2, window_size=32, out_hidden_size=64,
                      fullatt_block_indexes=[1], hidden_act="silu")
    info["config_kwargs"] = cfg_kw = dict(
        text_config=text_cfg, vision_config=vision_cfg, image_token_id=sid["<|image_pad|>"],
        video_token_id=sid["<|video_pad|>"], vision_start_token_id=sid["<|vision_start|>"],
        vision_end_token_id=sid["<|vision_end|>"], tie_word_embeddings=False)
    model = build_model(transformers.Qwen2_5_VLForConditionalGeneration,
                        make_config(transformers.Qwen2_5_VLConfig, **cfg_kw))
    save_model(model, d, info)

    # Image: 45x37 is scaled up to min_pixels, 64x80 px = 8x10 patches = 4x5 merged tokens (20 <|image_pad|>).
    img = test_image(d)
    prompt = ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in the picture?<|im_end|>\n"
              "<|im_start|>assistant\n")
    vision_kw = dict(min_pixels=64 * 64, max_pixels=128 * 128, patch_size=8, temporal_patch_size=2, merge_size=2)
    try:
        ip, feats = run_image_processor(d, info, "qwen2_vl", ["Qwen2VLImageProcessorPil", "Qwen2VLImageProcessor"],
                                        img, **vision_kw)
        pv, grid, route = feats["pixel_values"].float(), feats["image_grid_thw"].long(), "image processor + tokenizer"
    except Exception:  # by hand: pixel_values [t*h*w, channels*temporal_patch*patch*patch]
        info["errors"].append(traceback.format_exc())
        ip, grid, route = None, torch.tensor([[1, 8, 10]]), "by hand: random pixel_values, no image processor"
        pv = torch.randn(int(grid.prod()), 3 * 2 * 8 * 8, generator=torch.Generator().manual_seed(SEED))
    expanded = prompt.replace("<|image_pad|>", "<|image_pad|>" * (int(grid.prod()) // 4))
    enc = tok(expanded, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    types = (ids == sid["<|image_pad|>"]).long()  # mm_token_type_ids as processors make them: 1 = image

    # The whole processor, where this version lets it be built, must give the very same inputs.
    proc, info["processor_attempts"] = qwen_processor(ip, tok, d, vision_kw) if ip is not None else (None, [])
    if ip is not None and proc is None:
        info["errors"].append("Qwen2_5_VLProcessor could not be built: " + " | ".join(info["processor_attempts"]))
    if proc is not None:
        try:
            p = proc(images=[img], text=[prompt], return_tensors="pt")
            info["processor_agrees"] = (torch.equal(p["input_ids"], ids) and p["pixel_values"].shape == pv.shape
                                        and torch.allclose(p["pixel_values"].float(), pv)
                                        and torch.equal(p["image_grid_thw"].long(), grid))
            if info["processor_agrees"]:
                route = "Qwen2_5_VLProcessor"
                if "mm_token_type_ids" in p:  # the processor's own, should its idea of them differ from ours
                    info["processor_mm_token_type_ids_differ"] = not torch.equal(p["mm_token_type_ids"].long(), types)
                    types = p["mm_token_type_ids"].long()
            else:
                info["errors"].append("the processor's outputs differ from image processor + tokenizer's; kept those")
                tensors["processor_input_ids"] = p["input_ids"]
            proc.save_pretrained(d)
        except Exception:
            info["errors"].append(traceback.format_exc())
    tok.save_pretrained(d)  # last, so that the folder keeps this tokenizer's files whatever the processor wrote
    info["inputs"] = {"prompt": prompt, "expanded_prompt": expanded, "route": route, "input_ids": ids.tolist(),
                      "image_grid_thw": grid.tolist()}

    # Newer 5.x wants mm_token_type_ids with images (for M-RoPE); older versions have no such input.
    inputs = dict(input_ids=ids, attention_mask=mask, pixel_values=pv, image_grid_thw=grid)
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:
        inputs["mm_token_type_ids"] = types
    try:
        out = model(**inputs, use_cache=False, output_hidden_states=True)
    except Exception as e:  # a version that wants it without naming it in forward()'s signature
        if "mm_token_type_ids" in inputs or "mm_token_type_ids" not in str(e):
            raise
        inputs["mm_token_type_ids"] = types
        out = model(**inputs, use_cache=False, output_hidden_states=True)
    tensors.update(inputs, logits=out.logits)
    tensors.update({f"hidden_states.{i}": h for i, h in enumerate(out.hidden_states or ())})
    try:  # the merged vision features that replace the <|image_pad|> embeddings
        feats = model.get_image_features(pixel_values=pv, image_grid_thw=grid)
        if getattr(feats, "pooler_output", None) is not None:  # 5.x: an output object; 4.x: a tuple per image
            feats = feats.pooler_output
        tensors["image_embeds"] = torch.cat(list(feats), 0) if isinstance(feats, (list, tuple)) else feats
    except Exception:
        info["errors"].append(traceback.format_exc())
    try:  # the 3-D (t, h, w) M-RoPE position ids
        fn = getattr(getattr(model, "model", None), "get_rope_index", None) or model.get_rope_index
        kw = dict(input_ids=ids, image_grid_thw=grid, attention_mask=mask, mm_token_type_ids=types)
        res = fn(**{k: v for k, v in kw.items() if k in inspect.signature(fn).parameters})
        tensors["mrope_position_ids"], tensors["mrope_deltas"] = res[0], res[1]
    except Exception:
        info["errors"].append(traceback.format_exc())
    record_generation(info, model, 6, inputs, with_positions=False)


def family_janus(d, info, tensors):
    """The tiny Janus of scripts/oracles/janus.py (its config dicts and inputs, imported from it),
    built by transformers; outputs under the names of that script's reference.safetensors."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "janus_reference", os.path.join(os.path.dirname(os.path.abspath(__file__)), "janus.py"))
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    sub = lambda c, *drop: {k: v for k, v in c.items() if k not in drop}
    cfg = make_config(transformers.JanusConfig, text_config=dict(ref.TEXT), image_token_id=ref.IMG,
                      vision_config=sub(ref.VISION, "model_type"), vq_config=sub(ref.VQ, "model_type"),
                      tie_word_embeddings=False)
    model = build_model(transformers.JanusForConditionalGeneration, cfg)
    gc = model.generation_config
    gc.bos_token_id, gc.pad_token_id, gc.eos_token_id = ref.BOS, ref.PAD, ref.EOS
    gc.boi_token_id, gc.generation_kwargs = ref.BOI, {"boi_token_id": ref.BOI}
    save_model(model, d, info)
    gc.eos_token_id = None  # the reference never stops early: always TEXT_NEW new tokens
    inp = ref.fixture_inputs()
    tensors.update(inp)
    ids, mask, pos, px = inp["input_ids"], inp["attention_mask"], inp["position_ids"], inp["pixel_values"]
    feats = model.model.get_image_features(pixel_values=px)
    feats = getattr(feats, "pooler_output", feats)  # 5.x: an output object; 4.x: the tensor
    out = model.model(input_ids=ids, pixel_values=px, attention_mask=mask, position_ids=pos, use_cache=False)
    tensors.update(image_embeds=feats, hidden=out.last_hidden_state, logits=model.lm_head(out.last_hidden_state))
    # The generation path by hand: token embeddings, image features at the placeholders of row 1,
    # generation_embeddings + generation_aligner at the codes.
    gids, gcodes = inp["gen_input_ids"], inp["gen_codes"]
    emb = model.get_input_embeddings()(gids)
    holders = (gids == ref.IMG) & (gcodes < 0)
    emb = emb.masked_scatter(holders[..., None].expand_as(emb), feats[0])
    emb[gcodes >= 0] = model.prepare_embeddings_for_image_generation(gcodes[gcodes >= 0])
    gh = model.model.language_model(inputs_embeds=emb, attention_mask=inp["gen_attention_mask"],
                                    position_ids=inp["gen_position_ids"], use_cache=False).last_hidden_state
    tensors.update(gen_hidden=gh, gen_image_logits=model.model.generation_head(gh))
    try:
        gen = model.generate(input_ids=ids, attention_mask=mask, pixel_values=px, max_new_tokens=ref.TEXT_NEW,
                             do_sample=False, generation_mode="text")
        tensors["text_generate"] = gen[:, ids.shape[1]:]
    except Exception:
        info["errors"].append(traceback.format_exc())
    codes = model.generate(input_ids=inp["cfg_input_ids"], attention_mask=inp["cfg_attention_mask"],
                           generation_mode="image", do_sample=False, guidance_scale=ref.SCALE)
    pix = model.decode_image_tokens(codes).permute(0, 3, 1, 2)  # decode_image_tokens gives [B, H, W, C]
    tensors.update(cfg_codes=codes, cfg_pixels=pix)
    try:
        enc = model.model.vqmodel.encode(pix)
        enc = getattr(enc, "image_tokens", None) if not isinstance(enc, tuple) else enc[2]
        tensors["vq_codes"] = enc.reshape(2, -1)
    except Exception:
        info["errors"].append(traceback.format_exc())
    info["inputs"] = {k: v.tolist() for k, v in inp.items() if not v.is_floating_point()}


FAMILIES = [("llama", family_llama), ("qwen2", family_qwen2), ("qwen2_5_vl", family_qwen2_5_vl),
            ("clip_vision", family_clip_vision), ("dinov2", family_dinov2), ("siglip_vision", family_siglip_vision),
            ("janus", family_janus)]


def run_family(out_dir, name, fn):
    """Run one family; whatever happens, write expected.json and the tensors gathered so far."""
    import safetensors
    import tokenizers

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    versions = dict(python=sys.version.split()[0], torch=torch.__version__, transformers=transformers.__version__,
                    tokenizers=tokenizers.__version__, safetensors=safetensors.__version__, pillow=PIL.__version__)
    info, tensors, failure = {"family": name, "seed": SEED, "versions": versions, "errors": []}, {}, None
    try:
        torch.manual_seed(SEED)
        fn(d, info, tensors)
    except Exception:
        failure = traceback.format_exc()
    try:  # float tensors as float32, integer ones as int64, the test image as uint8 [H, W, 3]
        clean = {k: (v.to(torch.uint8) if k == "image_rgb" else v.float() if v.is_floating_point() else v.long())
                 .detach().contiguous().clone() for k, v in tensors.items() if isinstance(v, torch.Tensor)}
        if clean:
            save_file(clean, os.path.join(d, "expected.safetensors"), metadata={"family": name})
        info["shapes"] = {k: list(v.shape) for k, v in clean.items()}
        info["dtypes"] = {k: str(v.dtype).replace("torch.", "") for k, v in clean.items()}
        info["tensors_with_nan"] = [k for k, v in clean.items() if v.is_floating_point() and bool(v.isnan().any())]
    except Exception:
        failure = (failure or "") + traceback.format_exc()
    if failure:
        info["fatal_error"] = failure
        with open(os.path.join(d, "error.txt"), "w") as f:
            f.write(failure)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(info, f, indent=1, default=str)
    if failure:
        return False, f"{name}: FAILED: {failure.strip().splitlines()[-1]}"
    notes = [f"{len(info['errors'])} non-fatal errors in expected.json"] if info["errors"] else []
    if info.get("generation") and not info["generation"]["agree"]:
        notes.append("generate and the argmax loop disagree")
    return True, f"{name}: ok" + (f" ({'; '.join(notes)})" if notes else "")


def main():
    ap = argparse.ArgumentParser(description="Tiny Hugging Face models and their outputs, for the Go tests.")
    ap.add_argument("--out", required=True, help="folder to fill, one subfolder per family")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float32)
    transformers.logging.set_verbosity_error()
    print(f"hf-fixtures: transformers {transformers.__version__}, torch {torch.__version__}, into {args.out}")
    results = [run_family(args.out, name, fn) for name, fn in FAMILIES]

    print("sizes:")
    total = 0
    for name in sorted(os.listdir(args.out)):
        files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(args.out, name)) for f in fs]
        size = sum(map(os.path.getsize, files))
        total += size
        print(f"  {name}: {size / 1024:.1f} KiB in {len(files)} files")
    print(f"  total: {total / 1e6:.2f} MB" + ("  -- OVER the 3 MB budget" if total > 3e6 else " (budget 3 MB)"))
    print("families:")
    for _, line in results:
        print("  " + line)
    return 0 if any(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
