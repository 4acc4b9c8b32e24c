#!/usr/bin/python3
"""PyTorch side of `npm run bench -- --compare-torch`: the same figures and reference models as bench/run.ts.

Run with Debian's python3-torch (OpenBLAS): /usr/bin/python3 bench/reference/torch_bench.py [--seconds 2]
[--device auto|cpu|cuda|mps] [--only 'train ,ddim sample']
--device auto (the default) takes CUDA when torch has it (then Apple's MPS), else the CPU; a GPU needs torch >= 2.0
(torch.set_default_device puts every model and tensor on it). --only keeps the figures whose names contain one of
the comma-separated strings. Prints one JSON object {figure: {value, unit, runs, seconds}} using bench/run.ts's
figure names, plus "_torch" (version, threads, device).
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOW_SECONDS = 4.0


def sync():
    """Waits for the GPU: CUDA and MPS run asynchronously, so a figure must include the work it queued. (No module
    global: the model files import this module a second time, as torch_bench rather than __main__.)"""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    elif hasattr(torch, "mps") and hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        torch.mps.synchronize()


def timed(fn, min_seconds):
    t0 = time.perf_counter()
    fn()
    sync()
    warm = time.perf_counter() - t0
    if warm > SLOW_SECONDS:
        return warm, 1, warm
    runs = 0
    t0 = time.perf_counter()
    while True:
        fn()
        sync()
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


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def pick_device(requested):
    """auto: CUDA, then MPS, else the CPU; a named GPU that torch lacks is an error (exit 2, one line)."""
    cuda = torch.cuda.is_available()
    mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    device = requested if requested != "auto" else "cuda" if cuda else "mps" if mps else "cpu"
    if (device == "cuda" and not cuda) or (device == "mps" and not mps) or device not in ("cpu", "cuda", "mps"):
        sys.exit(f"torch_bench: torch {torch.__version__} has no {device} device; use --device cpu or auto")
    if device != "cpu":
        if not hasattr(torch, "set_default_device"):
            sys.exit(f"torch_bench: --device {device} needs torch >= 2.0 (this is {torch.__version__})")
        torch.set_default_device(device)
    return device


def main():
    min_seconds = float(arg("--seconds", "2"))
    only = [s for s in arg("--only", "").split(",") if s]

    def want(name):
        return not only or any(o in name for o in only)

    torch.set_num_threads(int(os.environ.get("DEEPGEN_THREADS", "2")))
    device = pick_device(arg("--device", "auto"))
    torch.manual_seed(1)
    r = {}
    M, K, N = 512, 1024, 1024
    if want("sgemm 512x1024x1024"):
        a, b = torch.randn(M, K), torch.randn(K, N)
        r["sgemm 512x1024x1024"] = gflops(2 * M * N * K, lambda: torch.mm(a, b), min_seconds)

    if want("conv2d"):
        B, H, W, C, OC = 64, 28, 28, 32, 64
        x, w, dy = torch.randn(B, C, H, W), torch.randn(OC, C, 3, 3), torch.randn(B, OC, H, W)
        flops = 2 * B * H * W * OC * 9 * C
        r["conv2d fwd"] = gflops(flops, lambda: F.conv2d(x, w, padding=1), min_seconds)
        bwd = torch.ops.aten.convolution_backward
        args = (dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
        r["conv2d bwd input"] = gflops(flops, lambda: bwd(*args, [True, False, False]), min_seconds)
        r["conv2d bwd filter"] = gflops(flops, lambda: bwd(*args, [False, True, False]), min_seconds)
        r["conv2d bwd (input+filter)"] = gflops(2 * flops, lambda: bwd(*args, [True, True, False]), min_seconds)

    if want("train mlp-vae b128"):
        r["train mlp-vae b128"] = train_figure(MlpVae(), min_seconds)
    if want("train conv-vae b128"):
        r["train conv-vae b128"] = train_figure(ConvVae(), min_seconds)
    # optional model files beside this one contribute more figures: each defines figures(min_seconds, want) -> dict
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    for mod in ("torch_gan_flow", "torch_unet_pixelcnn"):
        if os.path.exists(os.path.join(here, mod + ".py")):
            r.update(__import__(mod).figures(min_seconds, want))
    r = {k: v for k, v in r.items() if want(k)}
    info = {"version": torch.__version__, "threads": torch.get_num_threads(), "device": device}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    r["_torch"] = info
    print(json.dumps(r))


if __name__ == "__main__":
    main()
