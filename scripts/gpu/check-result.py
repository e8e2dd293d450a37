#!/usr/bin/env python3
"""check-result.py --out FILE --check NAME --title T --oracle O --status S [--lines FILE] [--text FILE]

Writes one registered check's result for the GPU report: a JSON object {"check", "title", "oracle",
"status", "lines", "text"} that `report gpu` (bench/report) renders as a section of gpu-report.md.
The checks of scripts/gpu/checks/ write it into $GPU_RUN_CHECKS (the run's scratch folder): at most
8 files come back from a GPU host, so their results travel inside the report rather than as files.
--lines is a file of summary lines (one bullet each), --text a file shown as it is (a plan, a log
tail); status is pass, fail or skip.
"""
import argparse
import json
import os


def read(path, limit=20000):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        s = f.read()
    return s if len(s) <= limit else "[... the first %d characters left out]\n" % (len(s) - limit) + s[-limit:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", required=True)
    ap.add_argument("--title", required=True)
    ap.add_argument("--oracle", default="")
    ap.add_argument("--status", required=True, choices=["pass", "fail", "skip"])
    ap.add_argument("--lines")
    ap.add_argument("--text")
    a = ap.parse_args()
    lines = [l.rstrip() for l in read(a.lines).splitlines() if l.strip()]
    res = {"check": a.check, "title": a.title, "oracle": a.oracle, "status": a.status, "lines": lines,
           "text": read(a.text).rstrip("\n")}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
