#!/usr/bin/env bash
# One command on a fresh GPU machine: install deepgen (npm ci) and the optional WebGPU packages, check that the webgpu
# backend starts on a real GPU adapter and matches cpu, then bench it beside PyTorch (CUDA when torch has it) in under
# five minutes, writing bench/gpu/gpu-bench.json and bench/gpu/gpu-bench.md. See docs/backends.md.
#
#   bash scripts/gpu-bench.sh            # a GPU machine
#   bash scripts/gpu-bench.sh --short    # a smoke run that accepts a software adapter, e.g. SwiftShader:
#       VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp bash scripts/gpu-bench.sh --short
# Options: --out DIR (default bench/gpu), --seconds S per figure (default 1), --no-install (skip npm ci), --no-torch.
# DEEPGEN_PYTHON=/path/to/python picks the Python whose torch is used (default: python3 if it has torch, else Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."
short=0 out=bench/gpu seconds=1 install=1 torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1 ;;
    --out) out="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --no-install) install=0 ;;
    --no-torch) torch=0 ;;
    *) echo "gpu-bench: unknown option $1 (see the header of scripts/gpu-bench.sh)" >&2; exit 2 ;;
  esac
  shift
done
start=$SECONDS
say() { printf 'gpu-bench [%3ds]: %s\n' $((SECONDS - start)) "$*" >&2; }
mkdir -p "$out"

# 1. install: deepgen with its dev dependencies (webgpu and @tensorflow/tfjs-backend-webgpu are among them), the
# Vulkan loader Dawn opens on Linux, and (optionally) Debian's CPU-only torch when no Python has torch
if [ "$install" = 1 ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >"$out/npm-ci.log" 2>&1 || { tail -20 "$out/npm-ci.log" >&2; exit 1; }
fi
if ! node -e "require.resolve('webgpu/package.json'); require.resolve('@tensorflow/tfjs-backend-webgpu/package.json')" 2>/dev/null; then
  say "npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0"
  npm install --no-save --no-audit --no-fund webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0
fi
# (grep without -q: it must read all of ldconfig's output, or pipefail sees ldconfig's SIGPIPE)
if [ "$(uname)" = Linux ] && ! ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "apt-get install libvulkan1 (the Vulkan loader Dawn needs)"
    apt-get install -y -qq libvulkan1 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libvulkan1; }
  else
    echo "gpu-bench: libvulkan.so.1 (the Vulkan loader) is missing; install your distribution's libvulkan1" >&2
    exit 1
  fi
fi
python=${DEEPGEN_PYTHON:-}
if [ "$torch" = 1 ] && [ -z "$python" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then python=$(command -v "$p"); break; fi
  done
  if [ -z "$python" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "no Python with torch: apt-get install python3-torch (Debian's, CPU only)"
    apt-get install -y -qq python3-torch >/dev/null 2>&1 && python=/usr/bin/python3 || say "python3-torch not installed: no PyTorch column"
  fi
fi

# 2. the backend starts on a GPU adapter, and its results match cpu
say "deepgen info --backend webgpu"
node --import tsx src/cli/main.ts info --backend webgpu --seconds 0.5 --json >"$out/info.json"
if node -e "process.exit(JSON.parse(require('fs').readFileSync('$out/info.json','utf8')).webgpu.software ? 0 : 1)"; then
  if [ "$short" = 0 ]; then
    echo "gpu-bench: the WebGPU adapter is a software one ($(node -p "Object.values(require('./$out/info.json').webgpu).slice(0,4).join(', ')")), not a GPU: check the GPU driver and Vulkan (vulkaninfo), unset VK_ICD_FILENAMES, or pass --short for a smoke run" >&2
    exit 1
  fi
  say "software adapter (--short): figures are CPU speed, not GPU speed"
fi
say "correctness: webgpu against cpu (test/webgpu/webgpu.test.ts)"
pattern=()
# on a software adapter the families' comparison takes minutes: the fused-kernel and VAE checks only
[ "$short" = 1 ] && pattern=(--test-name-pattern '^vae:|group norm|Adam \(AdamW\)|many reads|missing packages')
DEEPGEN_REQUIRE_WEBGPU=1 node --import tsx --test --test-concurrency=1 "${pattern[@]}" test/webgpu/webgpu.test.ts \
  >"$out/check.log" 2>&1 || { tail -40 "$out/check.log" >&2; echo "gpu-bench: the correctness check failed (log: $out/check.log)" >&2; exit 1; }

# 3. the bench: training images/s and DDIM sampling images/s, webgpu beside PyTorch
if [ "$short" = 1 ]; then
  figures='train mlp-vae b128,ddim sample 64x50'
  extra=(--short)
else
  figures='sgemm 512x1024x1024,train mlp-vae b128,train conv-vae b128,train dcgan b128,train unet-ddpm b128,ddim sample 64x50'
  extra=()
fi
torchArgs=()
[ -n "$python" ] && torchArgs=(--compare-torch --python "$python" --torch-device auto)
say "bench: $figures"
node --import tsx bench/run.ts --backends webgpu --seconds "$seconds" --only "$figures" "${extra[@]}" "${torchArgs[@]}" \
  --out "$out/gpu-bench.json" >"$out/bench.log" 2>"$out/bench.err" || { tail -20 "$out/bench.err" >&2; exit 1; }
# the bench prints its JSON, then the table
{
  echo "# deepgen webgpu vs PyTorch ($(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - start)) s from the start of gpu-bench.sh)"
  echo
  echo '```'
  sed -n '/^}$/,$p' "$out/bench.log" | tail -n +2
  echo '```'
  echo
  node -e "const r = require('./$out/gpu-bench.json');
    for (const [b, f] of Object.entries(r.results)) for (const [k, v] of Object.entries(f))
      if (v && v.note) console.log('- ' + b + ', ' + k + ': ' + v.note);
    if (r.torch) console.log('- torch ' + r.torch.version + ' on ' + r.torch.device + (r.torch.gpu ? ' (' + r.torch.gpu + ')' : '') + ', ' + r.torch.threads + ' threads');"

} >"$out/gpu-bench.md"
cat "$out/gpu-bench.md"
say "done: $out/gpu-bench.json, $out/gpu-bench.md (wall time $((SECONDS - start)) s)"
