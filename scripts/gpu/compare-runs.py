#!/usr/bin/env python3
"""compare-runs.py A B [--ignore KEY ...]: are two trainer runs the same run, bit for bit?

Used by the GPU kit's check scripts/gpu/checks/nccl-shard.sh, where B (replicated optimizer) is
the oracle of A (sharded, ZeRO-1). Compares, with nothing but the standard library:
  - metrics.jsonl: the same steps, and every value of each line equal exactly, except the clocks
    and rates (*_time, *_per_s, reward_share), the device readings (dev_*) and the keys named
    with --ignore;
  - the newest checkpoint of each (checkpoints/step-*/): every *.safetensors file in either, tensor
    by tensor, names, dtypes, shapes and raw bytes (the __metadata__ entries are not compared:
    they hold the run's folder).
Prints what it compared and the first differences; exits 0 when the runs agree, 1 when they do
not, 2 when a run is missing or unreadable.
"""
import argparse
import glob
import json
import os
import struct
import sys


def die(msg):
    print("compare-runs: " + msg, file=sys.stderr)
    sys.exit(2)


def metrics(run):
    path = os.path.join(run, "metrics.jsonl")
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.lstrip().startswith("{")]
    except (OSError, ValueError) as e:
        die("%s: %s" % (path, e))
    if not rows:
        die("%s has no metrics lines" % path)
    return rows


def volatile(key):
    return (key.startswith("dev_") or key.endswith("_time") or "_per_s" in key or key == "reward_share")


def compare_metrics(a, b, ignore):
    ra, rb = metrics(a), metrics(b)
    diffs = []
    if [r.get("step") for r in ra] != [r.get("step") for r in rb]:
        diffs.append("steps differ: %s against %s" % ([r.get("step") for r in ra], [r.get("step") for r in rb]))
    values = 0
    for x, y in zip(ra, rb):
        keys = sorted(k for k in set(x) | set(y) if not volatile(k) and k not in ignore)
        for k in keys:
            values += 1
            if x.get(k) != y.get(k):
                diffs.append("step %s %s: %r against %r" % (x.get("step"), k, x.get(k), y.get(k)))
    return len(ra), values, diffs


def safetensors(path):
    """The header (name -> dtype, shape, offsets) and the data section of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        die("%s is not a safetensors file" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    return header, memoryview(blob)[8 + n:]


def newest_checkpoint(run):
    steps = sorted(glob.glob(os.path.join(run, "checkpoints", "step-*")))
    if not steps:
        die("%s has no checkpoints/step-*" % run)
    return steps[-1]


def compare_checkpoints(a, b):
    ca, cb = newest_checkpoint(a), newest_checkpoint(b)
    diffs = []
    if os.path.basename(ca) != os.path.basename(cb):
        diffs.append("newest checkpoints differ: %s against %s" % (os.path.basename(ca), os.path.basename(cb)))
    names = sorted({os.path.basename(p) for c in (ca, cb) for p in glob.glob(os.path.join(c, "*.safetensors"))})
    tensors = nbytes = 0
    for name in names:
        pa, pb = os.path.join(ca, name), os.path.join(cb, name)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            diffs.append("%s is in one checkpoint only" % name)
            continue
        (ha, da), (hb, db) = safetensors(pa), safetensors(pb)
        if sorted(ha) != sorted(hb):
            diffs.append("%s: tensor names differ (%d against %d)" % (name, len(ha), len(hb)))
            continue
        for t in sorted(ha):
            ea, eb = ha[t], hb[t]
            if ea["dtype"] != eb["dtype"] or ea["shape"] != eb["shape"]:
                diffs.append("%s %s: %s%s against %s%s" % (name, t, ea["dtype"], ea["shape"], eb["dtype"], eb["shape"]))
                continue
            xa = da[ea["data_offsets"][0]:ea["data_offsets"][1]]
            xb = db[eb["data_offsets"][0]:eb["data_offsets"][1]]
            tensors += 1
            nbytes += len(xa)
            if xa != xb:
                diffs.append("%s %s (%s %s): the bytes differ" % (name, t, ea["dtype"], ea["shape"]))
    return os.path.basename(ca), names, tensors, nbytes, diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="a run folder")
    ap.add_argument("b", help="the run folder it must equal (the oracle)")
    ap.add_argument("--ignore", action="append", default=[], help="a metrics key not to compare")
    args = ap.parse_args()
    for r in (args.a, args.b):
        if not os.path.isdir(r):
            die("no run folder %s" % r)
    steps, values, mdiffs = compare_metrics(args.a, args.b, set(args.ignore))
    ckpt, files, tensors, nbytes, cdiffs = compare_checkpoints(args.a, args.b)
    ignored = (" (not compared: %s)" % ", ".join(args.ignore)) if args.ignore else ""
    print("metrics: %d steps, %d values compared%s: %s" % (steps, values, ignored, "equal" if not mdiffs else "%d DIFFER" % len(mdiffs)))
    print("checkpoint %s: %s, %d tensors, %d bytes compared: %s" % (ckpt, ", ".join(files), tensors, nbytes,
                                                                    "equal bit for bit" if not cdiffs else "%d DIFFER" % len(cdiffs)))
    for d in (mdiffs + cdiffs)[:10]:
        print("  " + d)
    sys.exit(1 if mdiffs or cdiffs else 0)


if __name__ == "__main__":
    main()
