#!/usr/bin/python3
"""PyTorch side of `npm run bench -- --compare-torch`: the same figures and reference models as bench/run.ts.

Run with Debian's python3-torch (OpenBLAS): /usr/bin/python3 bench/reference/torch_bench.py [--seconds 2]
Prints one JSON object {figure: {value, unit, runs, seconds}} using bench/run.ts's figure names.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOW_SECONDS = 4.0


def timed(fn, min_seconds):
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    if warm > SLOW_SECONDS:
        return warm, 1, warm
    runs = 0
    t0 = time.perf_counter()
    while True:
        fn()
        runs += 1
        if time.perf_counter() - t0 >= min_seconds and runs >= 2:
            break
    secs = time.perf_counter() - t0
    return secs / runs, runs, secs


def gflops(flops, fn, min_seconds):
    per, runs, secs = timed(fn, min_seconds)
    return {"value": flops / per / 1e9, "unit": "GFLOPS", "runs": runs, "seconds": secs}


class MlpVae(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 40))
        self.dec = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))

    def encode(self, x):
        return self.enc(x.reshape(x.shape[0], 784))

    def decode(self, z):
        return self.dec(z)


class ConvVae(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, stride=2, padding=1)  # 28 -> 14
        self.c2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)  # 14 -> 7
        self.e = nn.Linear(7 * 7 * 64, 40)
        self.d = nn.Linear(20, 7 * 7 * 64)
        self.t1 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)  # 7 -> 14
        self.t2 = nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1)  # 14 -> 28

    def encode(self, x):
        h = F.relu(self.c2(F.relu(self.c1(x))))
        return self.e(h.reshape(x.shape[0], -1))

    def decode(self, z):
        h = F.relu(self.d(z)).reshape(z.shape[0], 64, 7, 7)
        return self.t2(F.relu(self.t1(h))).reshape(z.shape[0], 784)


def train_figure(model, min_seconds, batch=128):
    torch.manual_seed(7)
    x = (torch.rand(batch, 1, 28, 28) > 0.7).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        h = model.encode(x)
        mu, log_var = h[:, :20], h[:, 20:]
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        logits = model.decode(z)
        bce = F.binary_cross_entropy_with_logits(logits, x.reshape(batch, 784), reduction="none").sum(1)
        kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1)
        loss = (bce + kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    per, runs, secs = timed(step, min_seconds)
    return {"value": batch / per, "unit": "images/s", "runs": runs, "seconds": secs}


def main():
    min_seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 2.0
    torch.set_num_threads(int(os.environ.get("DEEPGEN_THREADS", "2")))
    torch.manual_seed(1)
    r = {}
    M, K, N = 512, 1024, 1024
    a, b = torch.randn(M, K), torch.randn(K, N)
    r["sgemm 512x1024x1024"] = gflops(2 * M * N * K, lambda: torch.mm(a, b), min_seconds)

    B, H, W, C, OC = 64, 28, 28, 32, 64
    x, w, dy = torch.randn(B, C, H, W), torch.randn(OC, C, 3, 3), torch.randn(B, OC, H, W)
    flops = 2 * B * H * W * OC * 9 * C
    r["conv2d fwd"] = gflops(flops, lambda: F.conv2d(x, w, padding=1), min_seconds)
    bwd = torch.ops.aten.convolution_backward
    args = (dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
    r["conv2d bwd input"] = gflops(flops, lambda: bwd(*args, [True, False, False]), min_seconds)
    r["conv2d bwd filter"] = gflops(flops, lambda: bwd(*args, [False, True, False]), min_seconds)
    r["conv2d bwd (input+filter)"] = gflops(2 * flops, lambda: bwd(*args, [True, True, False]), min_seconds)

    r["train mlp-vae b128"] = train_figure(MlpVae(), min_seconds)
    r["train conv-vae b128"] = train_figure(ConvVae(), min_seconds)
    # optional model files beside this one contribute more figures: each defines figures(min_seconds) -> dict
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    for mod in ("torch_gan_flow", "torch_unet_pixelcnn"):
        if os.path.exists(os.path.join(here, mod + ".py")):
            r.update(__import__(mod).figures(min_seconds))
    r["_torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    print(json.dumps(r))


if __name__ == "__main__":
    main()
