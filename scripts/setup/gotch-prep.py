#!/usr/bin/env python3
"""Compile gotch v0.9.1's C++ layer against a given libtorch, in parallel, into one static library.

gotch v0.9.1 was generated for libtorch 2.1. Against another libtorch some of its ~2,500 generated
wrappers (torch_api_generated.cpp.h) and a few hand-written ones (torch_api.cpp) do not compile or
link. This script works on a writable copy of gotch's libtch folder (--src) and:

  1. splits the C++ into translation units: the hand-written part, and the generated wrappers cut
     into --chunks pieces, so that --jobs compilers run at once (cgo would compile one big file on
     one core);
  2. gives every wrapper named in the compatibility list of this libtorch (--compat, one name a
     line, '#' comments) a body that reports "<name> is not available with libtorch <version>"
     through gotch's last-error slot, so Go gets an error, not a crash;
  3. compiles; a wrapper that still fails to compile, or whose object leaves a symbol undefined
     against libtorch, gets the same body and its unit is compiled again (at most 4 rounds);
  4. archives the objects into libtchkit.a, removes the .cpp files (cgo then compiles nothing) and
     writes lib.go with the link flags, plus extra.go with wrappers gotch v0.9.1 lacks;
  5. writes what it disabled (--write-compat: the list to keep for this libtorch) and a JSON report.

Run by scripts/setup/gotch.sh (this machine) and scripts/gpu/run.sh (a GPU host, without Go).
"""
import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import re
import subprocess
import sys
import time

GEN_HEAD = re.compile(r"^[a-z_0-9]+[ \*]+(atg_\w+)\(")
# A top-level function definition of the hand-written file: a name and '(' at column 0.
HAND_HEAD = re.compile(r"^(?!#|//|using |namespace |typedef |struct |extern |static_assert)"
                       r"[A-Za-z_][\w:<>,\s\*&]*?\b([A-Za-z_]\w*)\s*\(")
INCLUDE_GEN = '#include "torch_api_generated.cpp.h"'
LAST_ERR = "thread_local char *torch_last_err = nullptr;"

# torch_api.cpp's autocast switches use the device-less API that libtorch 2.4 replaced by one that
# takes the device type; with a newer libtorch they are rewritten to name CUDA, which is what the
# old calls meant.
AUTOCAST_NEW = """#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define UNIGRPO_AUTOCAST_IS_ENABLED() at::autocast::is_autocast_enabled(at::kCUDA)
#define UNIGRPO_AUTOCAST_SET_ENABLED(b) at::autocast::set_autocast_enabled(at::kCUDA, b)
#else
#define UNIGRPO_AUTOCAST_IS_ENABLED() at::autocast::is_enabled()
#define UNIGRPO_AUTOCAST_SET_ENABLED(b) at::autocast::set_enabled(b)
#endif
"""


class Unit:
    """One translation unit: a list of functions (name, lines) between a fixed head and tail."""

    def __init__(self, name, head, funcs, tail=""):
        self.name, self.head, self.funcs, self.tail = name, head, funcs, tail
        self.disabled = set()

    def text(self):
        out = [self.head]
        for kind, name, lines, head in self.funcs:
            if name in self.disabled:
                out.append("\n".join(stub(kind, name, lines, head)))
            else:
                out.append("\n".join(lines))
        out.append(self.tail)
        return "\n".join(out) + "\n"

    def spans(self):
        """(first line, last line, name) of each function in text(), 1-based."""
        line = self.head.count("\n") + 2
        res = []
        for kind, name, lines, head in self.funcs:
            body = stub(kind, name, lines, head) if name in self.disabled else lines
            res.append((line, line + len(body) - 1, name))
            line += len(body)
        return res


def stub(kind, name, lines, head):
    """The lines of function `name` with a body that only reports the op as unavailable."""
    msg = '%s is not available with libtorch " UNIGRPO_TORCH_VERSION " (disabled by scripts/setup/gotch-prep.py)' % name
    pre = "\n".join(lines[:head]) + ("\n" if head else "")
    text = "\n".join(lines[head:])
    sig = pre + text[:text.index("{") + 1]
    if kind == "gen":
        body = '  PROTECT(\n    throw std::runtime_error("%s");\n  )' % msg
    else:
        ret = "return;" if re.match(r"^void\s", lines[head]) else "return {};"
        body = '  torch_last_err = strdup("%s");\n  %s' % (msg, ret)
    return (sig + "\n" + body + "\n}").split("\n")


def split_generated(text):
    """Functions of torch_api_generated.cpp.h as ("gen", name, lines); other lines are dropped."""
    src = text.split("\n")
    funcs, i = [], 0
    while i < len(src):
        m = GEN_HEAD.match(src[i])
        if not m:
            i += 1
            continue
        j = i
        while src[j] != "}":
            j += 1
        funcs.append(("gen", m.group(1), src[i:j + 1], 0))
        i = j + 1
    return funcs


def split_hand(text):
    """The hand-written file as a head (includes and everything before the first function) and its
    top-level functions; lines between functions (comments, blank lines) stay with the function after."""
    src = text.split("\n")
    items, pending, head, i = [], [], None, 0
    while i < len(src):
        line = src[i]
        m = HAND_HEAD.match(line)
        if m and not line.rstrip().endswith(";"):
            # find the line that opens the body, then the closing brace at column 0
            j = i
            while "{" not in src[j]:
                j += 1
            if src[j].rstrip().endswith("}") and src[j].count("{") == src[j].count("}"):
                end = j  # a one-line body
            else:
                end = j + 1
                while src[end].rstrip() != "}":
                    end += 1
            if head is None:
                head, pending = "\n".join(pending), []
            items.append(("hand", m.group(1), pending + src[i:end + 1], len(pending)))
            pending = []
            i = end + 1
            continue
        pending.append(line)
        i += 1
    tail = "\n".join(pending)
    return head or "", items, tail


def load_compat(path):
    names = set()
    if path and os.path.exists(path):
        for line in open(path):
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(line)
    return names


def compile_unit(unit, d, flags):
    src = os.path.join(d, unit.name + ".cpp")
    obj = os.path.join(d, unit.name + ".o")
    with open(src, "w") as f:
        f.write(unit.text())
    t = time.time()
    p = subprocess.run(["g++"] + flags + ["-c", src, "-o", obj], capture_output=True, text=True)
    return p.returncode, p.stderr, time.time() - t


def failing_names(unit, stderr):
    """Names of the functions that the compiler's diagnostics point into (errors located in the unit,
    or in a header but instantiated from a line of the unit)."""
    pat = re.compile(r"^(?:.*/)?%s\.cpp:(\d+):\d+:\s+(?:error|required from)" % re.escape(unit.name))
    lines = {int(m.group(1)) for m in map(pat.match, stderr.split("\n")) if m}
    return {name for lo, hi, name in unit.spans() if any(lo <= b <= hi for b in lines)}


def undefined_names(objs, libdir, link_libs):
    """Functions of the objects that leave symbols undefined when linked against libtorch."""
    p = subprocess.run(["g++", "-shared", "-o", os.devnull] + objs +
                       ["-L" + libdir, "-Wl,--no-undefined", "-Wl,-rpath-link," + libdir] + link_libs,
                       capture_output=True, text=True)
    if p.returncode == 0:
        return set(), ""
    return set(re.findall(r"in function [`'](\w+)'", p.stderr)), p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", required=True, help="writable copy of gotch's libtch folder")
    ap.add_argument("--include", required=True, help="libtorch include folder")
    ap.add_argument("--lib", required=True, help="libtorch lib folder")
    ap.add_argument("--torch-version", required=True)
    ap.add_argument("--abi", choices=["0", "1"], required=True)
    ap.add_argument("--cuda", action="store_true", help="link libtorch's CUDA libraries")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--chunks", type=int, default=0, help="pieces of the generated wrappers (0: 2 per job)")
    ap.add_argument("--opt", default="-O1", help="optimisation flag of the wrappers")
    ap.add_argument("--compat", help="names to disable up front (this libtorch's list)")
    ap.add_argument("--write-compat", help="write every disabled name here")
    ap.add_argument("--report", help="write a JSON report here")
    ap.add_argument("--extra-ldflags", default="", help="more cgo link flags (e.g. -Wl,-rpath-link,DIR)")
    a = ap.parse_args()
    t0 = time.time()
    d = a.src
    inc = a.include
    cxx = ["-std=c++17", "-fPIC", "-w", a.opt, "-I" + d, "-I" + inc, "-I" + inc + "/torch/csrc/api/include",
           "-D_GLIBCXX_USE_CXX11_ABI=" + a.abi, '-DUNIGRPO_TORCH_VERSION="%s"' % a.torch_version]
    link_libs = ["-lstdc++", "-lm", "-ltorch", "-lc10", "-ltorch_cpu"]
    if a.cuda:
        link_libs += ["-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-Wl,--as-needed"]

    # torch_api.h defines the last-error slot; with several units it must be one inline variable.
    # c10::optional, which its declarations use, is included explicitly instead of through torch/torch.h.
    h = open(os.path.join(d, "torch_api.h")).read()
    if LAST_ERR in h:
        h = h.replace(LAST_ERR, "inline " + LAST_ERR)
        h = h.replace("#include <torch/torch.h>\n", "#include <torch/torch.h>\n#include <c10/util/Optional.h>\n", 1)
        open(os.path.join(d, "torch_api.h"), "w").write(h)

    hand_src = open(os.path.join(d, "torch_api.cpp")).read()
    if INCLUDE_GEN not in hand_src:
        sys.exit("gotch-prep: %s/torch_api.cpp does not include the generated wrappers: not gotch v0.9.1?" % d)
    hand_src = hand_src.replace(INCLUDE_GEN, "")
    hand_src = hand_src.replace("at::autocast::is_enabled()", "UNIGRPO_AUTOCAST_IS_ENABLED()")
    hand_src = hand_src.replace("at::autocast::set_enabled(b)", "UNIGRPO_AUTOCAST_SET_ENABLED(b)")
    head, hand_funcs, tail = split_hand(hand_src)
    head = head.replace("#include <vector>", "#include <vector>\n#include <torch/version.h>\n" + AUTOCAST_NEW, 1)
    gen = split_generated(open(os.path.join(d, "torch_api_generated.cpp.h")).read())
    if len(gen) < 1000 or len(hand_funcs) < 50:
        sys.exit("gotch-prep: found %d generated and %d hand-written functions: not gotch v0.9.1's layout" %
                 (len(gen), len(hand_funcs)))

    chunks = a.chunks or max(2, 2 * a.jobs)
    gen_head = '// Generated by scripts/setup/gotch-prep.py from torch_api_generated.cpp.h.\n#include "torch_api.h"\n#include <torch/torch.h>\nusing namespace std;\n'
    units = [Unit("hand", head, hand_funcs, tail)]
    per = (len(gen) + chunks - 1) // chunks
    for k in range(chunks):
        part = gen[k * per:(k + 1) * per]
        if part:
            units.append(Unit("gen_%02d" % k, gen_head, part))
    known = load_compat(a.compat)
    for u in units:
        u.disabled = {n for _, n, _, _ in u.funcs if n in known}

    rounds = []
    todo = list(units)
    for rnd in range(1, 5):
        tr = time.time()
        with cf.ThreadPoolExecutor(a.jobs) as ex:
            results = list(ex.map(lambda u: compile_unit(u, d, cxx), todo))
        failed, newly = [], set()
        for u, (rc, err, _) in zip(todo, results):
            if rc == 0:
                continue
            names = failing_names(u, err) - u.disabled
            if not names:
                errs = [l for l in err.split("\n") if "error" in l][:8]
                sys.exit("gotch-prep: %s.cpp fails outside any wrapper it could disable:\n%s" % (u.name, "\n".join(errs)))
            u.disabled |= names
            newly |= names
            failed.append(u)
        if not failed:
            # every unit compiled: check that no wrapper needs a symbol this libtorch lacks
            objs = [os.path.join(d, u.name + ".o") for u in units]
            undef, err = undefined_names(objs, a.lib, link_libs)
            byname = {n: u for u in units for _, n, _, _ in u.funcs}
            for n in undef:
                if n in byname and n not in byname[n].disabled:
                    byname[n].disabled.add(n)
                    newly.add(n)
                    if byname[n] not in failed:
                        failed.append(byname[n])
            if undef and not failed:
                sys.exit("gotch-prep: linking against libtorch leaves symbols undefined:\n" + err[:2000])
        rounds.append({"round": rnd, "units": len(todo), "failed_units": len(failed),
                       "disabled": sorted(newly), "seconds": round(time.time() - tr, 1),
                       "slowest_unit_s": round(max(r[2] for r in results), 1)})
        print("gotch-prep: round %d: %d units in %.0f s, %d to redo (%d wrappers disabled)" %
              (rnd, len(todo), time.time() - tr, len(failed), len(newly)), flush=True)
        if not failed:
            break
        todo = failed
    else:
        sys.exit("gotch-prep: wrappers still fail after 4 rounds")

    objs = [os.path.join(d, u.name + ".o") for u in units]
    lib_a = os.path.join(d, "libtchkit.a")
    if os.path.exists(lib_a):
        os.remove(lib_a)
    subprocess.run(["ar", "rcs", lib_a] + objs, check=True)
    for f in objs + [os.path.join(d, u.name + ".cpp") for u in units] + [os.path.join(d, "torch_api.cpp")]:
        os.remove(f)
    digest = hashlib.sha256(open(lib_a, "rb").read()).hexdigest()[:16]
    ldflags = " ".join(["${SRCDIR}/libtchkit.a", "-L" + a.lib, "-Wl,-rpath," + a.lib] + link_libs +
                       ([a.extra_ldflags] if a.extra_ldflags else []))
    with open(os.path.join(d, "lib.go"), "w") as f:
        f.write("package libtch\n\n// Generated by scripts/setup/gotch-prep.py for libtorch %s (%s); libtchkit.a %s.\n\n"
                "// #cgo LDFLAGS: %s\n// #cgo CFLAGS: -I${SRCDIR} -O2 -w -D_GLIBCXX_USE_CXX11_ABI=%s\n"
                "import \"C\"\n" % (a.torch_version, "cuda" if a.cuda else "cpu", digest, ldflags, a.abi))
    with open(os.path.join(d, "extra.go"), "w") as f:
        f.write('''package libtch

// Generated by scripts/setup/gotch-prep.py: wrappers gotch v0.9.1 lacks.

// #include <stdbool.h>
// #include <stddef.h>
// #include "torch_api.h"
import "C"

// AtManualSeed seeds libtorch's global random generators.
func AtManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }

// AtSetNumThreads sets libtorch's intra-op thread count.
func AtSetNumThreads(n int) { C.at_set_num_threads(C.int(n)) }
''')
    disabled = sorted(n for u in units for n in u.disabled)
    if a.write_compat:
        tmp = a.write_compat + ".tmp"
        with open(tmp, "w") as f:
            f.write("# gotch v0.9.1 wrappers that do not build against libtorch %s (written by scripts/setup/gotch-prep.py)\n" % a.torch_version)
            f.write("".join(n + "\n" for n in disabled))
        os.replace(tmp, a.write_compat)
    rep = {"torch_version": a.torch_version, "cuda": a.cuda, "abi": int(a.abi), "jobs": a.jobs, "units": len(units),
           "generated_wrappers": len(gen), "hand_written": len(hand_funcs), "known_up_front": len(known),
           "disabled": disabled, "rounds": rounds, "seconds": round(time.time() - t0, 1), "archive_sha": digest}
    if a.report:
        tmp = a.report + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=1)
        os.replace(tmp, a.report)
    print("gotch-prep: libtorch %s: %d wrappers disabled (%d from the list), %d rounds, %.0f s" %
          (a.torch_version, len(disabled), len(known), len(rounds), time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
