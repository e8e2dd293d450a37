#!/usr/bin/env python3
"""An example reward service for Unified-GRPO, protocol version 1, to fill in with your own
text-to-image pipeline (the decoder) and image embedders (CLIP, ...).

The trainer calls the service with --reward-url http://HOST:PORT; the protocol is the one of
package reward (reward/protocol.go), JSON over HTTP/1.1:

    GET  /v1/info     -> {"protocol": 1, "embedders": [...], "max_batch": N, "max_body_bytes": M}
    POST /v1/rewards  {"protocol": 1, "group": G, "images": [IMAGE, ...B], "captions": [...N],
                       "keys": [KEY, ...N], "hidden": [[float, ...D], ...N] (optional)}
                   -> {"protocol": 1, "embedders": [...K], "rewards": [...N], "parts": [[...K], ...N]}

N = B*G and caption r belongs to source image r // G. IMAGE is {"png": base64} (8-bit RGB),
{"f32": base64 of little-endian float32 values, "c": 3, "h": H, "w": W} (channel-major, values in
[0, 1]) or {"path": "/a/file/this/server/can/read"}. KEY is {"seed", "stream", "step", "index",
"seed64"}; seed64 is the seed to give the decoder's random generator, so that the same caption
under the same key decodes to the same image. reward[r] is the mean over the embedders of the
cosine similarity between the embedding of the source image and that of caption r's
reconstruction; parts[r][k] is the similarity under embedder k. An error is any non-2xx status
with {"protocol": 1, "error": "what went wrong"}.

Only the standard library is needed for the protocol. Pillow is needed only when PNG or path
images arrive (the trainer sends PNG when every value of an image is a multiple of 1/255).

Usage:

    python3 scripts/examples/reward-server.py --listen 127.0.0.1:8500 --stand-in   # try the protocol
    python3 scripts/examples/reward-server.py --listen 0.0.0.0:8500                # your models

Fill in the class Reward below (look for "FILL IN"). --stand-in replaces it with a trivial
decoder and embedder that need nothing but Python (used by the tests of package reward).

The requests that arrive together (from several ranks, or the pieces of a pool's call) are
decoded in one call of up to --max-batch captions: after a request arrives the server waits up
to --batch-wait seconds for others. Run one server per GPU and give the trainer all of them
(--reward-url several times) for a pool.
"""

import argparse
import base64
import io
import json
import math
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PROTOCOL = 1


# --------------------------------------------------------------------------------------------
# Images inside the server.
# --------------------------------------------------------------------------------------------


class Img:
    """An RGB image: c channels (3) of h rows of w values, channel-major (CHW), in [0, 1].

    pix is a flat list of Python floats: pix[(ch*h + y)*w + x]. to_pil and to_numpy convert it
    for your models; from_pil converts a model's PIL output back.
    """

    __slots__ = ("c", "h", "w", "pix")

    def __init__(self, c, h, w, pix):
        if len(pix) != c * h * w:
            raise ValueError("%d values for a %dx%dx%d image" % (len(pix), c, h, w))
        self.c, self.h, self.w, self.pix = c, h, w, pix

    def __repr__(self):
        return "Img(%d, %d, %d)" % (self.c, self.h, self.w)

    @classmethod
    def from_pil(cls, im):
        """The image of a PIL image (alpha dropped, the colour under it kept)."""
        im = im.convert("RGB")
        w, h = im.size
        data = im.tobytes()  # row-major, 3 bytes a pixel
        pix = []
        for ch in range(3):
            pix.extend(_BYTE_VALUE[b] for b in data[ch::3])
        return cls(3, h, w, pix)

    def to_pil(self):
        """The image as an 8-bit PIL RGB image (values rounded to the nearest k/255)."""
        from PIL import Image  # imported only when used

        n = self.h * self.w
        out = bytearray(3 * n)
        for ch in range(3):
            src = min(ch, self.c - 1)
            out[ch::3] = bytes(_to8(v) for v in self.pix[src * n:(src + 1) * n])
        return Image.frombytes("RGB", (self.w, self.h), bytes(out))

    def to_numpy(self):
        """The image as a float32 numpy array of shape (c, h, w): exactly the values sent."""
        import numpy as np  # imported only when used

        return np.asarray(self.pix, dtype=np.float32).reshape(self.c, self.h, self.w)


def _to8(v):
    """A value in [0, 1] as a byte, rounded to nearest, values outside clamped."""
    if not v > 0:  # negative or NaN
        return 0
    if v >= 1:
        return 255
    return int(v * 255 + 0.5)


# The value of byte k: k/255 rounded to float32, the exact value the trainer's image held.
_BYTE_VALUE = [struct.unpack("<f", struct.pack("<f", k / 255.0))[0] for k in range(256)]


class BadRequest(Exception):
    """A request the server cannot take: answered 400 (or the status given)."""

    def __init__(self, msg, status=400):
        super().__init__(msg)
        self.status = status


def _pil(what):
    try:
        from PIL import Image
    except ImportError:
        raise BadRequest(
            "Pillow is needed for %s images: pip install Pillow in the Python that runs this "
            "server" % what
        ) from None
    return Image


def decode_image(obj, size):
    """The Img of an IMAGE of a request; size > 0 fits path images to size x size."""
    if not isinstance(obj, dict):
        raise BadRequest("an image must be an object, not %s" % type(obj).__name__)
    kinds = [k for k in ("png", "f32", "path") if obj.get(k)]
    if len(kinds) != 1:
        raise BadRequest('an image needs exactly one of "png", "f32" or "path"')
    kind = kinds[0]
    value = obj[kind]
    if not isinstance(value, str):
        raise BadRequest('"%s" must be a string' % kind)
    if kind == "f32":
        try:
            data = base64.b64decode(value, validate=True)
        except ValueError as e:
            raise BadRequest("f32: %s" % e) from None
        c, h, w = obj.get("c"), obj.get("h"), obj.get("w")
        if (
            not all(_is_int(v) for v in (c, h, w))
            or c != 3
            or h < 1
            or w < 1
            or len(data) != 4 * c * h * w
        ):
            raise BadRequest(
                "f32: %d bytes for a %sx%sx%s image (want 3 channels, 4 bytes a value)"
                % (len(data), c, h, w)
            )
        return Img(c, h, w, list(struct.unpack("<%df" % (c * h * w), data)))
    if kind == "png":
        Image = _pil("PNG")
        try:
            data = base64.b64decode(value, validate=True)
            im = Image.open(io.BytesIO(data))
            if im.format != "PNG":
                raise ValueError("not a PNG image (%s)" % im.format)
            im.load()
        except Exception as e:  # noqa: BLE001 - any decoding failure is the client's
            raise BadRequest("png: %s" % e) from None
        return Img.from_pil(im)
    Image = _pil("path")
    try:
        im = Image.open(value)
        im.load()
    except Exception as e:  # noqa: BLE001
        raise BadRequest("%s: %s" % (value, e)) from None
    if size > 0:
        im = _fit(im.convert("RGB"), size)
    return Img.from_pil(im)


def _fit(im, size):
    """Resize the shorter side to size and keep the centred square (as the trainer does)."""
    from PIL import Image

    w, h = im.size
    side = min(w, h)
    x0, y0 = (w - side) // 2, (h - side) // 2
    im = im.crop((x0, y0, x0 + side, y0 + side))
    if side != size:
        im = im.resize((size, size), Image.BICUBIC)
    return im


# --------------------------------------------------------------------------------------------
# FILL IN: your decoder and embedders.
# --------------------------------------------------------------------------------------------


class Reward:
    """The frozen reward: a text-to-image decoder and one or more image embedders.

    Fill in embedders, __init__, reconstruct and embed. The server runs them on one thread (the
    batcher), so the models need not be thread-safe; the captions of the requests that arrive
    together (several ranks, several trainers) come in one call, up to --max-batch captions.
    """

    # FILL IN: the names of your embedders, in the order embed returns them. They are shown in
    # the trainer's logs, and the parts of each reward follow this order.
    embedders = ["clip"]

    def __init__(self):
        # FILL IN: load your models once, here. For example, with diffusers and transformers:
        #
        #   import torch
        #   from diffusers import StableDiffusion3Pipeline
        #   from transformers import CLIPModel, CLIPProcessor
        #
        #   self.torch = torch
        #   self.device = "cuda"
        #   self.pipe = StableDiffusion3Pipeline.from_pretrained(
        #       "stabilityai/stable-diffusion-3-medium-diffusers", torch_dtype=torch.float16
        #   ).to(self.device)
        #   self.clip = CLIPModel.from_pretrained("openai/clip-vit-large-patch14").to(self.device).eval()
        #   self.clip_processor = CLIPProcessor.from_pretrained("openai/clip-vit-large-patch14")
        pass

    def reconstruct(self, captions, seeds64, hidden):
        """Decode each caption into an image.

        captions: N strings. seeds64: N integers in [0, 2**64), the seed of caption r's random
        draws: decode caption r with a generator seeded with seeds64[r], so that the same caption
        under the same key gives the same image. hidden: None, or N lists of floats (the
        policy's last hidden state of each caption, sent when the trainer is asked to send
        them). Returns N Img (Img.from_pil converts a PIL image).
        """
        # FILL IN, for example:
        #
        #   out = []
        #   for caption, seed64 in zip(captions, seeds64):
        #       generator = self.torch.Generator().manual_seed(seed64)
        #       image = self.pipe(caption, generator=generator, num_inference_steps=28).images[0]
        #       out.append(Img.from_pil(image))
        #   return out
        #
        # (one pipeline call for all the captions, with one generator per caption, is faster:
        #  self.pipe(captions, generator=[...one torch.Generator per caption...]).images)
        raise NotImplementedError(
            "Reward.reconstruct is not filled in: put your text-to-image pipeline in "
            "class Reward of scripts/examples/reward-server.py, or run it with --stand-in "
            "to try the protocol"
        )

    def embed(self, images):
        """Embed images under each embedder.

        images: M Img. Returns one list per embedder (in the order of self.embedders), each
        holding M feature vectors (lists of floats, or anything with .tolist()), L2-normalised
        preferably: the reward is their cosine similarity, so any scale gives the same reward.
        """
        # FILL IN, for example with CLIP:
        #
        #   with self.torch.no_grad():
        #       inputs = self.clip_processor(images=[im.to_pil() for im in images], return_tensors="pt")
        #       feats = self.clip.get_image_features(pixel_values=inputs["pixel_values"].to(self.device))
        #       feats = feats / feats.norm(dim=-1, keepdim=True)
        #   return [feats.float().cpu().tolist()]
        #
        # (to_pil rounds to 8 bits; im.to_numpy() gives the exact float32 values, CHW.)
        raise NotImplementedError(
            "Reward.embed is not filled in: put your image embedders (CLIP, ...) in "
            "class Reward of scripts/examples/reward-server.py, or run it with --stand-in "
            "to try the protocol"
        )


# --------------------------------------------------------------------------------------------
# The stand-in (--stand-in): a decoder and an embedder that need nothing, for tests.
# --------------------------------------------------------------------------------------------


class StandIn:
    """A trivial reward for trying the protocol: the reconstruction of caption r blends its source
    image x with grey, the closer to x the more words (a = min(1, words/10),
    rec = (1-a)*0.5 + a*x), and the one embedder, "pixels", is the values minus 0.25."""

    embedders = ["pixels"]
    wants_sources = True  # the stand-in "decodes" from the source; a real decoder must not

    def __init__(self, delay=0.0):
        self.delay = delay  # seconds each reconstruct call takes, whatever its batch (--stand-in-delay)

    def reconstruct(self, captions, seeds64, hidden, sources):
        if self.delay > 0:
            time.sleep(self.delay)
        out = []
        for caption, x in zip(captions, sources):
            a = min(1.0, len(caption.split()) / 10.0)
            out.append(Img(x.c, x.h, x.w, [(1 - a) * 0.5 + a * v for v in x.pix]))
        return out

    def embed(self, images):
        return [[[v - 0.25 for v in im.pix] for im in images]]


# --------------------------------------------------------------------------------------------
# The reward of a request.
# --------------------------------------------------------------------------------------------


def _vector(v, what):
    if hasattr(v, "tolist"):
        v = v.tolist()
    try:
        return [float(x) for x in v]
    except TypeError:
        raise RuntimeError("%s is not a flat vector of numbers" % what) from None


def cosine(a, b):
    """The cosine similarity of two vectors, in float64; 0 when either is zero."""
    if len(a) != len(b):
        raise RuntimeError("embeddings of %d and %d values" % (len(a), len(b)))
    dot = na = nb = 0.0
    for x, y in zip(a, b):
        dot += x * y
        na += x * x
        nb += y * y
    if na == 0 or nb == 0:
        return 0.0
    return dot / (math.sqrt(na) * math.sqrt(nb))


def _features(model, images, what):
    """The model's embeddings of images, checked: feats[k][i] is a list of floats."""
    feats = list(model.embed(images))
    k = len(model.embedders)
    if len(feats) != k:
        raise RuntimeError("embed gave %d lists for the %s but there are %d embedders" % (len(feats), what, k))
    out = []
    for e, per in enumerate(feats):
        name = model.embedders[e]
        per = list(per)
        if len(per) != len(images):
            raise RuntimeError("embedder %s gave %d vectors for %d %s" % (name, len(per), len(images), what))
        out.append([_vector(v, "embedder %s's vector of %s %d" % (name, what, i)) for i, v in enumerate(per)])
    return out


class Job:
    """One request's work: its sources, group, captions, seeds and hidden states (or None)."""

    __slots__ = ("sources", "group", "captions", "seeds64", "hidden", "done", "result", "error")

    def __init__(self, sources, group, captions, seeds64, hidden):
        self.sources, self.group, self.captions = sources, group, captions
        self.seeds64, self.hidden = seeds64, hidden
        self.done = threading.Event()
        self.result = self.error = None


def score_jobs(model, jobs):
    """The (rewards, parts) of each job, with one reconstruct and one embed call for them all.

    The jobs must agree on whether they carry hidden states. A reward depends only on its caption,
    seed and source, so a job's rewards do not depend on the jobs batched with it."""
    sources, captions, seeds64, src_of, hidden = [], [], [], [], []
    for j in jobs:
        base = len(sources)
        sources.extend(j.sources)
        captions.extend(j.captions)
        seeds64.extend(j.seeds64)
        src_of.extend(base + r // j.group for r in range(len(j.captions)))
        if j.hidden is not None:
            hidden.extend(j.hidden)
    if any(j.hidden is None for j in jobs):
        hidden = None
    n = len(captions)
    extra = {}
    if getattr(model, "wants_sources", False):
        extra["sources"] = [sources[i] for i in src_of]
    recs = list(model.reconstruct(captions, seeds64, hidden, **extra))
    if len(recs) != n:
        raise RuntimeError("reconstruct gave %d images for %d captions" % (len(recs), n))
    src_feats = _features(model, sources, "source images")
    rec_feats = _features(model, recs, "reconstructions")
    k = len(model.embedders)
    rewards, parts = [], []
    for r in range(n):
        p = [cosine(src_feats[e][src_of[r]], rec_feats[e][r]) for e in range(k)]
        reward = sum(p) / k
        if not all(math.isfinite(v) for v in p + [reward]):
            raise RuntimeError("caption %d: reward %r and parts %r are not all finite" % (r, reward, p))
        rewards.append(reward)
        parts.append(p)
    out, lo = [], 0
    for j in jobs:
        hi = lo + len(j.captions)
        out.append((rewards[lo:hi], parts[lo:hi]))
        lo = hi
    return out


class Batcher:
    """Runs the model on one thread for the requests that arrive together.

    A request's handler thread queues its Job and waits. The batcher takes the oldest job, then
    waits up to batch_wait seconds for more, and runs the jobs in one score_jobs call while
    their captions fit in max_batch (and they agree on sending hidden states). An error of the
    model fails every job of its call."""

    def __init__(self, model, max_batch, batch_wait, verbose=False):
        self.model, self.max_batch, self.batch_wait, self.verbose = model, max_batch, batch_wait, verbose
        self.cond = threading.Condition()
        self.queue = []
        threading.Thread(target=self._run, daemon=True).start()

    def submit(self, job):
        """Queue job and wait for its rewards; raises the model's error."""
        with self.cond:
            self.queue.append(job)
            self.cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _take(self):
        with self.cond:
            while not self.queue:
                self.cond.wait()
            first = self.queue.pop(0)
            jobs, n = [first], len(first.captions)
            deadline = time.monotonic() + self.batch_wait
            while True:
                while self.queue:
                    nxt = self.queue[0]
                    if n + len(nxt.captions) > self.max_batch or (nxt.hidden is None) != (first.hidden is None):
                        return jobs
                    jobs.append(self.queue.pop(0))
                    n += len(nxt.captions)
                left = deadline - time.monotonic()
                if left <= 0 or n >= self.max_batch:
                    return jobs
                self.cond.wait(left)

    def _run(self):
        while True:
            jobs = self._take()
            if self.verbose:
                sys.stderr.write("reward service: one call for %d requests (%d captions)\n"
                                 % (len(jobs), sum(len(j.captions) for j in jobs)))
            try:
                results = score_jobs(self.model, jobs)
            except Exception as e:  # noqa: BLE001 - each waiting request answers with it
                traceback.print_exc(file=sys.stderr)
                for j in jobs:
                    j.error = e
                    j.done.set()
                continue
            for j, res in zip(jobs, results):
                j.result = res
                j.done.set()


# --------------------------------------------------------------------------------------------
# The protocol.
# --------------------------------------------------------------------------------------------


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_request(req, max_batch):
    """Check a decoded request as the trainer's own server does; returns its fields."""
    if not isinstance(req, dict):
        raise BadRequest("the body is not a rewards request: a JSON object is needed")
    proto = req.get("protocol", 0)
    group = req.get("group", 0)
    images = req.get("images") or []
    captions = req.get("captions") or []
    keys = req.get("keys") or []
    hidden = req.get("hidden")
    if not _is_int(proto):
        raise BadRequest('"protocol" must be an integer (this side speaks protocol %d)' % PROTOCOL)
    if proto != PROTOCOL:
        raise BadRequest("protocol %d: this side speaks protocol %d" % (proto, PROTOCOL))
    if not _is_int(group):
        raise BadRequest('"group" must be an integer')
    for name, v in (("images", images), ("captions", captions), ("keys", keys)):
        if not isinstance(v, list):
            raise BadRequest('"%s" must be a list' % name)
    if hidden is not None and not isinstance(hidden, list):
        raise BadRequest('"hidden" must be a list')
    if group < 1:
        raise BadRequest("group %d: must be at least 1" % group)
    if len(captions) != len(images) * group:
        raise BadRequest("%d captions for %d images x group %d" % (len(captions), len(images), group))
    if len(keys) != len(captions):
        raise BadRequest("%d keys for %d captions" % (len(keys), len(captions)))
    if hidden is not None and len(hidden) != len(captions):
        raise BadRequest("%d hidden states for %d captions" % (len(hidden), len(captions)))
    if max_batch > 0 and len(captions) > max_batch:
        raise BadRequest("%d captions in one request; the service takes at most %d" % (len(captions), max_batch))
    for i, c in enumerate(captions):
        if not isinstance(c, str):
            raise BadRequest("caption %d is not a string" % i)
    seeds64 = []
    for i, k in enumerate(keys):
        s = k.get("seed64") if isinstance(k, dict) else None
        if not _is_int(s) or not 0 <= s < 1 << 64:
            raise BadRequest('key %d: "seed64" must be an integer in [0, 2^64)' % i)
        seeds64.append(s)
    if hidden is not None:
        for i, h in enumerate(hidden):
            if not isinstance(h, list):
                raise BadRequest("hidden state %d is not a list" % i)
    return group, images, captions, seeds64, hidden


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the trainer reuses its connections
    server_version = "unigrpo-reward-example/1"
    timeout = 600  # an idle connection is closed after this many seconds

    # Set by main.
    model = None
    batcher = None
    max_batch = 256
    max_body = 256 << 20
    size = 0
    verbose = False

    def log_message(self, format, *args):
        if self.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def _answer(self, status, obj, close=False):
        obj = {"protocol": PROTOCOL, **obj}
        try:
            body = json.dumps(obj, allow_nan=False).encode()
        except ValueError as e:  # a NaN or infinity slipped through
            status = 500
            body = json.dumps({"protocol": PROTOCOL, "error": "encoding the answer: %s" % e}).encode()
        body += b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, status, msg, close=False):
        if self.verbose:
            sys.stderr.write("reward service: %s %s: %s\n" % (self.command, self.path, msg))
        self._answer(status, {"error": msg}, close=close)

    def _route(self):
        """The path asked for when the method fits it; else answers 404 or 405 and gives None."""
        path = urlsplit(self.path).path
        known = {"/v1/info": "GET", "/v1/rewards": "POST"}
        # A body left unread would be taken for the next request: close after such an answer.
        close = self.command != "GET"
        if path not in known:
            self._fail(404, "no such path %s: this service answers GET /v1/info and POST /v1/rewards" % path, close)
            return None
        if self.command != known[path]:
            self._fail(405, "%s %s: use %s" % (self.command, path, known[path]), close)
            return None
        return path

    def do_GET(self):
        if self._route() == "/v1/info":
            self._answer(200, {
                "embedders": list(self.model.embedders),
                "max_batch": self.max_batch,
                "max_body_bytes": self.max_body,
            })

    def do_POST(self):
        if self._route() != "/v1/rewards":
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self._fail(411, "the request needs a Content-Length", close=True)
            return
        try:
            length = int(length)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self._fail(400, "bad Content-Length %r" % self.headers.get("Content-Length"), close=True)
            return
        if length > self.max_body:
            self._fail(413, "a body of %d bytes: the service takes at most %d bytes" % (length, self.max_body), close=True)
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self._fail(400, "the body ended after %d of %d bytes" % (len(body), length), close=True)
            return
        try:
            try:
                req = json.loads(body)
            except ValueError as e:
                raise BadRequest("the body is not a rewards request: %s" % e) from None
            group, wire_images, captions, seeds64, hidden = parse_request(req, self.max_batch)
            sources = []
            for i, w in enumerate(wire_images):
                try:
                    sources.append(decode_image(w, self.size))
                except BadRequest as e:
                    raise BadRequest("image %d: %s" % (i, e), e.status) from None
        except BadRequest as e:
            self._fail(e.status, str(e))
            return
        try:
            rewards, parts = self.batcher.submit(Job(sources, group, captions, seeds64, hidden))
        except Exception as e:  # noqa: BLE001 - the client gets the message, stderr the trace
            traceback.print_exc(file=sys.stderr)
            self._fail(500, "%s: %s" % (type(e).__name__, e))
            return
        self._answer(200, {"embedders": list(self.model.embedders), "rewards": rewards, "parts": parts})

    def _other(self):
        self._route()

    do_PUT = do_DELETE = do_PATCH = _other


def parse_listen(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError("%r: want HOST:PORT" % s)
    return host.strip("[]") or "0.0.0.0", int(port)


def main():
    ap = argparse.ArgumentParser(description="An example reward service for Unified-GRPO (protocol 1).")
    ap.add_argument("--listen", required=True, type=parse_listen, metavar="HOST:PORT",
                    help="address to answer on (port 0: a free port, printed)")
    ap.add_argument("--max-batch", type=int, default=256, help="most captions per request (default 256)")
    ap.add_argument("--max-body-bytes", type=int, default=256 << 20,
                    help="largest request body accepted (default 256 MiB)")
    ap.add_argument("--size", type=int, default=0,
                    help="side that path images are fitted to (default 0: as stored)")
    ap.add_argument("--batch-wait", type=float, default=0.005, metavar="SECONDS",
                    help="after a request arrives, wait this long for more to decode with it in one "
                         "call, up to --max-batch captions (default 0.005)")
    ap.add_argument("--stand-in", action="store_true",
                    help="serve the trivial stand-in reward instead of class Reward (for tests)")
    ap.add_argument("--stand-in-delay", type=float, default=0.0, metavar="SECONDS",
                    help="with --stand-in: each decoder call takes this long, whatever its batch, "
                         "like a GPU decoding a batch (for tests and benchmarks; default 0)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args()
    if args.max_batch < 1 or args.max_body_bytes < 1 or args.size < 0:
        ap.error("--max-batch and --max-body-bytes must be positive, --size not negative")
    if not (args.batch_wait >= 0 and args.stand_in_delay >= 0):
        ap.error("--batch-wait and --stand-in-delay must not be negative")
    if args.stand_in_delay > 0 and not args.stand_in:
        ap.error("--stand-in-delay applies to --stand-in only")

    host, port = args.listen

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, port), Handler)  # binds now: a taken port fails before models load
    Handler.model = StandIn(args.stand_in_delay) if args.stand_in else Reward()
    Handler.batcher = Batcher(Handler.model, args.max_batch, args.batch_wait, args.verbose)
    Handler.max_batch = args.max_batch
    Handler.max_body = args.max_body_bytes
    Handler.size = args.size
    Handler.verbose = args.verbose

    # A signal only raises a flag (a handler takes no lock); the main thread polls it.
    stopped = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopped.append(signum))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    if ":" in bound_host:
        bound_host = "[%s]" % bound_host
    print("serving protocol %d on %s:%d" % (PROTOCOL, bound_host, bound_port), flush=True)
    while not stopped:
        time.sleep(0.25)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
