#!/bin/bash
# Rebuilds the model zoo (models/): trains each reference model one after another on all cores, packs it as float16
# with its model card (scripts/zoo/NAME.md holds the hand-written part), then measures the packed weights themselves
# (deepgen eval / cond-eval on models/NAME) and packs again so the card shows those figures. About 2 hours on 2 cores.
# Usage: scripts/build-zoo.sh [NAME ...]   (default: every model; runs go to $ZOO_RUNS, default zoo-runs/)
set -euo pipefail
cd "$(dirname "$0")/.."
D="node bin/deepgen.js"
RUNS=${ZOO_RUNS:-zoo-runs}
HO="red circle,blue square,yellow triangle"

train() { # NAME ARGS...: the training command of each model (the same line is in its card)
  local name=$1; shift
  [ -f "$RUNS/$name/config.json" ] || $D train "$@" --out "$RUNS/$name"
}
set_json() { # CONFIG KEY VALUE: set a model setting of a run after training (a sampling default; the weights stay)
  node -e 'const fs = require("fs"), [f, k, v] = process.argv.slice(1); const c = JSON.parse(fs.readFileSync(f, "utf8"));
    c.config.model[k] = JSON.parse(v); fs.writeFileSync(f, JSON.stringify(c, null, 2) + "\n");' "$@"
}
measure() { # NAME: the figures of the packed folder
  case $1 in
    vae-fmnist) $D eval models/$1 --metrics nll,fid,kid,pr --n 2000 ;;
    diffusion-fmnist-label) $D cond-eval models/$1 --n 2000 --guidance 3 && $D eval models/$1 --metrics nll,fid,kid,pr --n 2000 ;;
    diffusion-shapes-text) $D cond-eval models/$1 --n 1000 --guidance 3 && $D eval models/$1 --metrics nll,fid,kid,pr --n 1000 ;;
    diffusion-emoji-text) $D cond-eval models/$1 --n 1000 --guidance 3 && $D eval models/$1 --metrics nll,fid,kid,pr --n 409 ;;
    oneshot-shapes-text) $D cond-eval models/$1 --n 200 && $D eval models/$1 --n 1000 ;;
    gan-fmnist) $D eval models/$1 --metrics fid,kid,pr --n 2000 ;;
    cgan-fmnist) $D cond-eval models/$1 --n 2000 && $D eval models/$1 --metrics fid,kid,pr --n 2000 ;;
    flow-fmnist) $D eval models/$1 --n 2000 ;;
    pixelcnn-fmnist) $D eval models/$1 --n 1000 ;;
    igpt-shapes-text) $D eval models/$1 --n 1000 ;;
  esac
}
build() {
  case $1 in
    vae-fmnist) train $1 vae --dataset fashion-mnist --likelihood logistic --arch conv --latent 32 --epochs 6 --lr-schedule cosine ;;
    oneshot-shapes-text) train $1 oneshot --dataset shapes --cond text --hold-out "$HO" --epochs 10 ;;
    diffusion-shapes-text) # two stages: 1,600 steps at 6e-4, then 1,200 more from those weights at 3e-4 (train --init)
      train $1-stage1 diffusion --dataset shapes --cond text --hold-out "$HO" --steps 1600 --batch-size 64 --lr 6e-4 --lr-schedule cosine
      train $1 --init "$RUNS/$1-stage1" --steps 1200 --lr 3e-4 --lr-schedule cosine ;;
    diffusion-emoji-text) $D datasets get emoji
      train $1 diffusion --dataset emoji --cond text --set model.cond.tokenizer=bpe --set model.cond.maxTokens=40 --steps 3000 --batch-size 64 --lr 6e-4 --lr-schedule cosine ;;
    diffusion-fmnist-label) train $1 diffusion --dataset fashion-mnist --cond label --steps 1600 --batch-size 128 --lr 4e-4 --lr-schedule cosine ;;
    gan-fmnist) train $1 gan --dataset fashion-mnist --epochs 3 ;;
    cgan-fmnist) train $1 gan --dataset fashion-mnist --cond label --epochs 3 --lr 4e-4 --set model.dLrScale=0.5 --set model.dCond=both --set model.dCondScale=unit && set_json "$RUNS/$1/config.json" guidance 1.6 ;;
    flow-fmnist) train $1 flow --dataset fashion-mnist --steps 1500 --lr-schedule cosine ;;
    pixelcnn-fmnist) train $1 pixelcnn --dataset fashion-mnist --steps 700 --lr-schedule cosine ;;
    igpt-shapes-text) train $1 igpt --dataset shapes --size 16 --cond text --hold-out "$HO" --steps 1000 --lr-schedule cosine ;;
    *) echo "unknown zoo model $1" >&2; exit 2 ;;
  esac
  $D pack "$RUNS/$1" models/$1 --notes scripts/zoo/$1.md
  rm -f models/$1/eval.json models/$1/cond-eval.json   # every figure is measured on the packed weights themselves
  measure $1
  rm -f models/$1/cond-eval.png   # a picture of the evaluation, not part of the model
  $D pack "$RUNS/$1" models/$1 --notes scripts/zoo/$1.md   # the same weights: keeps the figures, updates the card
}
ALL="diffusion-shapes-text diffusion-emoji-text diffusion-fmnist-label vae-fmnist flow-fmnist pixelcnn-fmnist igpt-shapes-text gan-fmnist cgan-fmnist oneshot-shapes-text"
for name in ${@:-$ALL}; do build "$name"; done
