"""PyTorch side of bench/models-unet-pixelcnn.ts: a DDPM UNet (training, DDIM sampling) and a PixelCNN (training,
sampling), the same architectures, losses, batch sizes and optimisers as the tfjs models. Imported by torch_bench.py.

UNet (28x28x1, channels 32/64/128 at 28/14/7): sinusoidal time embedding (32) -> dense 128 SiLU -> dense 128;
in conv 3x3 1->32; down: res(32) at 28, stride-2 conv 32->64, res(64) at 14, stride-2 conv 64->128, res(128) at 7;
up: nearest x2 + conv 128->64, concat skip(64) -> res(128->64) at 14, nearest x2 + conv 64->32, concat skip(32) ->
res(64->32) at 28; out: GroupNorm, SiLU, conv 32->1. res(cin->cout): GN(8) SiLU conv3x3, + dense(temb), GN(8) SiLU
conv3x3, + (x or 1x1 conv x). Epsilon-prediction MSE, t ~ U{0..999}, linear betas 1e-4..0.02, Adam 2e-4.
DDIM: 64 images, 50 steps (t = 980, 960, ..., 0), eta 0.
PixelCNN: 7x7 mask-A conv 1->64 (ReLU), 5 x [h + ReLU(3x3 mask-B conv 64->64)], 1x1 conv 64->256 logits; 256-way
softmax cross-entropy on 8-bit pixels, input scaled to [-1, 1]; Adam 1e-3. Sampling 16 images: 784 forward passes.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_bench import timed  # one timing rule for every figure

T = 1000




def time_embedding(t, dim=32):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(a), torch.cos(a)], 1)


class Res(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(128, cout)
        self.n2, self.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x))) + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.t1, self.t2 = nn.Linear(32, 128), nn.Linear(128, 128)
        self.inc = nn.Conv2d(1, 32, 3, padding=1)
        self.r1 = Res(32, 32)
        self.d1 = nn.Conv2d(32, 64, 3, stride=2, padding=1)  # 28 -> 14
        self.r2 = Res(64, 64)
        self.d2 = nn.Conv2d(64, 128, 3, stride=2, padding=1)  # 14 -> 7
        self.r3 = Res(128, 128)
        self.u2 = nn.Conv2d(128, 64, 3, padding=1)
        self.r4 = Res(128, 64)
        self.u1 = nn.Conv2d(64, 32, 3, padding=1)
        self.r5 = Res(64, 32)
        self.nout, self.out = nn.GroupNorm(8, 32), nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x, t):
        temb = self.t2(F.silu(self.t1(time_embedding(t))))
        s1 = self.r1(self.inc(x), temb)
        s2 = self.r2(self.d1(s1), temb)
        h = self.r3(self.d2(s2), temb)
        h = self.u2(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.r4(torch.cat([h, s2], 1), temb)
        h = self.u1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.r5(torch.cat([h, s1], 1), temb)
        return self.out(F.silu(self.nout(h)))


def alpha_bars():
    betas = torch.linspace(1e-4, 0.02, T)
    return torch.cumprod(1 - betas, 0)


def unet_figures(min_seconds):
    torch.manual_seed(11)
    r = {}
    model = UNet()
    ab = alpha_bars()
    batch = 128
    x0 = (torch.rand(batch, 1, 28, 28) > 0.7).float() * 2 - 1
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)

    def step():
        t = torch.randint(0, T, (batch,))
        eps = torch.randn_like(x0)
        a = ab[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        loss = F.mse_loss(model(xt, t), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    per, runs, secs = timed(step, min_seconds)
    r["train unet-ddpm b128"] = {"value": batch / per, "unit": "images/s", "runs": runs, "seconds": secs}

    n, steps = 64, 50
    ts = list(range(T - T // steps, -1, -T // steps))  # 980, 960, ..., 0

    @torch.no_grad()
    def sample():
        x = torch.randn(n, 1, 28, 28)
        for i, t in enumerate(ts):
            a = ab[t]
            a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
            eps = model(x, torch.full((n,), t, dtype=torch.long))
            x0p = (x - (1 - a).sqrt() * eps) / a.sqrt()
            x = a_prev.sqrt() * x0p + (1 - a_prev).sqrt() * eps
        x.sum().item()

    per, runs, secs = timed(sample, min_seconds)
    r["ddim sample 64x50"] = {"value": n / per, "unit": "images/s", "runs": runs, "seconds": secs}
    return r


class MaskedConv(nn.Conv2d):
    def __init__(self, cin, cout, k, mask_type):
        super().__init__(cin, cout, k, padding=k // 2)
        mask = torch.ones(k, k)
        c = k // 2
        mask[c, c + (1 if mask_type == "B" else 0):] = 0
        mask[c + 1:, :] = 0
        self.register_buffer("mask", mask[None, None])

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = MaskedConv(1, 64, 7, "A")
        self.bs = nn.ModuleList([MaskedConv(64, 64, 3, "B") for _ in range(5)])
        self.out = nn.Conv2d(64, 256, 1)

    def forward(self, x):  # x: [B, 1, 28, 28] in [-1, 1]
        h = F.relu(self.a(x))
        for b in self.bs:
            h = h + F.relu(b(h))
        return self.out(h)  # [B, 256, 28, 28]


def pixelcnn_figures(min_seconds):
    torch.manual_seed(12)
    r = {}
    model = PixelCNN()
    batch = 128
    data = torch.randint(0, 256, (batch, 1, 28, 28))
    x = data.float() / 127.5 - 1
    target = data[:, 0]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    per, runs, secs = timed(step, min_seconds)
    r["train pixelcnn b128"] = {"value": batch / per, "unit": "images/s", "runs": runs, "seconds": secs}

    n = 16

    @torch.no_grad()
    def sample():
        img = torch.zeros(n, 1, 28, 28)
        for i in range(28):
            for j in range(28):
                logits = model(img / 127.5 - 1)[:, :, i, j]
                img[:, 0, i, j] = torch.multinomial(F.softmax(logits, 1), 1)[:, 0].float()
        img.sum().item()

    per, runs, secs = timed(sample, min_seconds)
    r["pixelcnn sample 16"] = {"value": n / per, "unit": "images/s", "runs": runs, "seconds": secs}
    return r


def figures(min_seconds, want=lambda name: True):
    r = {}
    if want("train unet-ddpm b128") or want("ddim sample 64x50"):
        r.update(unet_figures(min_seconds))
    if want("train pixelcnn b128") or want("pixelcnn sample 16"):
        r.update(pixelcnn_figures(min_seconds))
    return r


if __name__ == "__main__":
    import json
    import sys
    torch.set_num_threads(2)
    print(json.dumps(figures(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)))
