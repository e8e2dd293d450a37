#!/usr/bin/env python3
"""Assemble gpu-report.json and gpu-report.md from the scratch folder of scripts/gpu-run.sh.

Reads: steps.jsonl (one line per step: name, status, seconds, note), logs/*.log, libtorch.json,
gotch-prep.json and compat.txt (the build), run/*/metrics.jsonl (training), bench/ (the benchmark:
Go metrics.jsonl and the PyTorch twin's JSON lines). Standard library only: it runs on the GPU host
and on the build machine alike.
"""
import argparse
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import time

# Dense peaks of the cards this project meets (NVIDIA's data sheets, SXM parts, without sparsity).
PEAKS = {"H100": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12},
         "H200": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12}}


def read_jsonl(path):
    rows = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def read_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # a missing tool leaves the field empty
        return ""


def machine():
    m = {"host": platform.node(), "kernel": platform.release(), "cores": os.cpu_count(),
         "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    m["gpu"] = sh("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader")
    m["torch"] = sh("python3 -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>/dev/null")
    m["cpu"] = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
    return m


def gpucheck(log):
    """Figures from gpucheck's output."""
    if not os.path.exists(log):
        return None
    text = open(log).read()
    out = {"output": text[-3000:]}
    m = re.search(r"nccl: loaded (\S+) \(NCCL ([\d.]+)", text)
    if m:
        out["nccl_lib"], out["nccl_version"] = m.group(1), m.group(2)
    m = re.search(r"cuda: loaded (\S+) \(runtime (\S+), driver (\S+)\), (\d+) device", text)
    if m:
        out["cudart"], out["cuda_runtime"], out["cuda_driver"], out["devices"] = m.group(1), m.group(2), m.group(3), int(m.group(4))
    m = re.search(r"one-rank all-reduce.*?: ok.*?algbw ([\d.]+) GB/s, busbw ([\d.]+) GB/s", text)
    if m:
        out["one_rank_algbw_gbs"], out["one_rank_busbw_gbs"] = float(m.group(1)), float(m.group(2))
    out["one_rank_ok"] = "one-rank all-reduce" in text and ": ok" in text
    out["nvml"] = re.findall(r"^nvml: .*$", text, re.M)
    return out


def run_summary(d):
    rows = [r for r in read_jsonl(os.path.join(d, "metrics.jsonl")) if "step" in r]
    if not rows:
        return None
    keys = ["loss", "reward_mean", "length_mean", "grad_norm", "step_time"]
    s = {"steps": len(rows), "first": {k: rows[0].get(k) for k in keys if k in rows[0]},
         "last": {k: rows[-1].get(k) for k in keys if k in rows[-1]}}
    st = [r["step_time"] for r in rows[1:] if "step_time" in r]
    if st:
        s["median_step_time_s"] = statistics.median(st)
    mem = [v for r in rows for k, v in r.items() if k.startswith("gpu") and k.endswith("mem_used_mib") and isinstance(v, (int, float))]
    if mem:
        s["gpu_mem_used_mib_max"] = max(mem)
    return s


def compare(a_dir, b_dir, n):
    """Largest differences of the first n steps' metrics between two runs (GPU against CPU)."""
    a = [r for r in read_jsonl(os.path.join(a_dir, "metrics.jsonl")) if "step" in r][:n]
    b = [r for r in read_jsonl(os.path.join(b_dir, "metrics.jsonl")) if "step" in r][:n]
    if not a or not b:
        return None
    out = {"steps": min(len(a), len(b))}
    for k in ["loss", "reward_mean", "length_mean", "grad_norm", "kl", "entropy"]:
        diffs = [abs(x[k] - y[k]) for x, y in zip(a, b) if isinstance(x.get(k), (int, float)) and isinstance(y.get(k), (int, float))]
        if diffs:
            out[k + "_max_abs_diff"] = max(diffs)
            out[k + "_first_step"] = [a[0].get(k), b[0].get(k)]
    return out


def flops_update(model, tokens, images):
    """FLOPs of one GRPO update on the language model, counted from the shapes: the reference and
    the policy forward passes and the policy's backward (twice a forward) over the sampled tokens,
    plus the image prefix of each image (frozen vision encoder excluded)."""
    D, L, V = model["dim"], model["layers"], model["vocab"]
    r = model.get("mlp_ratio", 4)
    P = (model.get("image_size", 32) // 4) ** 2
    per_tok = 2 * (L * (4 + 2 * r) * D * D + D * V)  # matmuls: q, k, v, o, the MLP, the head
    attn = 4 * L * D * P  # scores and weighted sum against the prefix (the captions' own part is small)
    fwd = tokens * (per_tok + attn) + images * P * 2 * L * (4 + 2 * r) * D * D
    return 4 * fwd


def bench(d, gpu_name):
    settings = read_json(os.path.join(d, "settings.json")) or {}
    warm = settings.get("warmup", 3)
    peak = next((v for k, v in PEAKS.items() if k in (gpu_name or "")), None)
    out = {"settings": settings, "sizes": {}}
    for size in ["world", "wide"]:
        cfg_dir = os.path.join(d, "wide-sft") if size == "wide" else os.environ.get("GPU_RUN_INIT_DIR", "")
        cfg = read_json(os.path.join(cfg_dir, "config.json")) or {}
        model = cfg.get("model") or cfg.get("Model")
        sides = {}
        for side in ["go", "torch"]:
            rows = []
            for f in sorted(glob.glob(os.path.join(d, "%s-%s-*" % (size, side)))):
                path = os.path.join(f, "metrics.jsonl") if os.path.isdir(f) else f
                rr = [r for r in read_jsonl(path) if "step_time" in r]
                rows += rr[warm:]
            if not rows:
                continue
            med = lambda k: statistics.median([r[k] for r in rows if k in r]) if any(k in r for r in rows) else None
            s = {"steps": len(rows), "step_time_s": med("step_time"), "rollout_time_s": med("rollout_time"),
                 "reward_time_s": med("reward_time"), "update_time_s": med("update_time"), "tokens": med("tokens")}
            if s["tokens"] and s["rollout_time_s"]:
                s["rollout_tokens_per_s"] = s["tokens"] / s["rollout_time_s"]
            if model and s["tokens"] and s["update_time_s"]:
                images = rows[0].get("samples", 0) // 8  # both sizes sample G = 8 captions per image
                fl = flops_update(model, s["tokens"], images)
                s["update_flops"] = fl
                if peak:
                    s["update_mfu_fp32"] = fl / s["update_time_s"] / peak["fp32"]
                    s["update_mfu_bf16"] = fl / s["update_time_s"] / peak["bf16"]
            sides[side] = s
        if sides:
            if "go" in sides and "torch" in sides and sides["go"]["step_time_s"]:
                go, tw = sides["go"], sides["torch"]
                sides["torch_over_go_step_time"] = tw["step_time_s"] / go["step_time_s"]
                # the two sides sample different captions: per token is the fairer ratio
                if go.get("tokens") and tw.get("tokens"):
                    sides["torch_over_go_step_time_per_token"] = (tw["step_time_s"] / tw["tokens"]) / (go["step_time_s"] / go["tokens"])
            sides["model"] = model
            out["sizes"][size] = sides
    w, x = out["sizes"].get("world", {}), out["sizes"].get("wide", {})
    if settings.get("device") != "cuda":
        w, x = {}, {}  # the targets are for a GPU; a rehearsal's toy sizes say nothing about them
    out["targets"] = {
        "world: Go at least 1.5x faster than the twin": None if "torch_over_go_step_time" not in w else w["torch_over_go_step_time"] >= 1.5,
        "wide: Go not slower than the twin": None if "torch_over_go_step_time" not in x else x["torch_over_go_step_time"] >= 1.0}
    return out


def fmt(v, nd=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("%%.%dg" % nd) % v
    return str(v)


def markdown(r):
    L = ["# GPU run report (%s, %s)" % (r["mode"], r["machine"]["date"]), ""]
    m = r["machine"]
    L += ["Machine: %s; %s cores (%s); kernel %s; PyTorch %s; Python %s." % (m["gpu"] or "no GPU", m["cores"], m["cpu"],
          m["kernel"], m["torch"] or "-", m["python"]), "", "## Steps", "", "| step | status | seconds | note |", "|---|---|---:|---|"]
    for s in r["steps"]:
        L.append("| %s | %s | %.0f | %s |" % (s["step"], s["status"], s["seconds"], s["note"].replace("|", "/")))
    g = r.get("gpucheck")
    if g:
        L += ["", "## gpucheck", "", "NCCL %s (%s); CUDA runtime %s, driver %s; one-rank all-reduce ok: %s; in place, algbw %s GB/s (one rank moves no data: this measures NCCL's launch cost)." % (
            g.get("nccl_version", "-"), g.get("nccl_lib", "-"), g.get("cuda_runtime", "-"), g.get("cuda_driver", "-"),
            g.get("one_rank_ok"), fmt(g.get("one_rank_algbw_gbs")))]
        L += [""] + ["    " + l for l in g.get("nvml", [])]
    b = r.get("build")
    if b:
        L += ["", "## Build", "", "libtorch %s (%s), gotch's C++ layer: %s units in %s s over %s rounds; %s wrappers disabled (%s known up front)." % (
            b.get("torch_version"), "CUDA" if b.get("cuda") else "CPU", b.get("units"), b.get("seconds"), len(b.get("rounds", [])),
            len(b.get("disabled", [])), b.get("known_up_front"))]
    t = r.get("training") or {}
    if t:
        L += ["", "## Training", "", "| run | steps | first loss | last loss | first reward | last reward | median step s |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in sorted(t.get("runs", {}).items()):
            if s:
                L.append("| %s | %d | %s | %s | %s | %s | %s |" % (name, s["steps"], fmt(s["first"].get("loss")), fmt(s["last"].get("loss")),
                         fmt(s["first"].get("reward_mean")), fmt(s["last"].get("reward_mean")), fmt(s.get("median_step_time_s"))))
        for name, c in sorted(t.get("cpu_vs_gpu", {}).items()):
            if c:
                L += ["", "CPU against GPU, %s, first %d steps: " % (name, c["steps"]) +
                      ", ".join("%s %s" % (k, fmt(v)) for k, v in c.items() if k.endswith("max_abs_diff"))]
    bn = r.get("bench")
    if bn and bn.get("sizes"):
        L += ["", "## Benchmark: GRPO step, Go against the PyTorch twin", "",
              "| size | side | step s | rollout s | update s | rollout tokens/s | update MFU fp32 | update MFU bf16 |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for size, s in bn["sizes"].items():
            for side in ["go", "torch"]:
                x = s.get(side)
                if x:
                    L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (size, side, fmt(x["step_time_s"]), fmt(x["rollout_time_s"]),
                             fmt(x["update_time_s"]), fmt(x.get("rollout_tokens_per_s")), fmt(x.get("update_mfu_fp32")), fmt(x.get("update_mfu_bf16"))))
            L.append("| %s | twin/Go step time (per token) | %s (%s) | | | | | |" % (size, fmt(s.get("torch_over_go_step_time")),
                     fmt(s.get("torch_over_go_step_time_per_token"))))
        L += [""] + ["- %s: %s" % (k, {True: "met", False: "MISSED", None: "not measured"}[v]) for k, v in bn["targets"].items()]
    return "\n".join(L) + "\n"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--seconds", type=float, default=0)
    a = ap.parse_args()
    w = a.work
    r = {"mode": a.mode, "seconds": a.seconds, "machine": machine(), "steps": read_jsonl(os.path.join(w, "steps.jsonl"))}
    r["all_passed"] = all(s["status"] == "pass" for s in r["steps"]) and bool(r["steps"])
    r["gpucheck"] = gpucheck(os.path.join(w, "logs", "gpucheck.log"))
    r["libtorch"] = read_json(os.path.join(w, "libtorch.json"))
    r["build"] = read_json(os.path.join(w, "gotch-prep.json"))
    runs = {n: run_summary(os.path.join(w, "run", n)) for n in sorted(os.listdir(os.path.join(w, "run")))} if os.path.isdir(os.path.join(w, "run")) else {}
    r["training"] = {"runs": runs, "cpu_vs_gpu": {
        "sft": compare(os.path.join(w, "run", "sft"), os.path.join(w, "run", "sft-cpu"), 5),
        "grpo": compare(os.path.join(w, "run", "grpo-np1"), os.path.join(w, "run", "grpo-np1-cpu"), 5)}}
    if os.path.isdir(os.path.join(w, "bench")):
        os.environ["GPU_RUN_INIT_DIR"] = os.path.join(w, "run", "sft")
        r["bench"] = bench(os.path.join(w, "bench"), r["machine"]["gpu"])
    write_atomic(os.path.join(a.out, "gpu-report.json"), json.dumps(r, indent=1, default=str))
    write_atomic(os.path.join(a.out, "gpu-report.md"), markdown(r))
    print(markdown(r))


if __name__ == "__main__":
    main()
