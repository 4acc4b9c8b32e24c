"""PyTorch side of bench/models-gan-flow.ts: DCGAN 28x28 and a RealNVP-style MLP flow, the same models and the same
training step as the tfjs side (keep the two in step). Imported by torch_bench.py: figures(min_seconds) -> dict with
bench/run.ts's figure names ('train dcgan b128', 'train realnvp-mlp b128'), values in images/s at batch 128.

DCGAN. G: z 100 -> linear 6272 (no bias) -> [128, 7, 7] -> BatchNorm + ReLU -> ConvTranspose 64 (4x4, stride 2,
padding 1 = tfjs 'same'; no bias) -> BatchNorm + ReLU -> ConvTranspose 1 (4x4, stride 2, padding 1) -> tanh.
D: conv 64 (4x4, stride 2, padding 1) -> leaky ReLU 0.2 -> conv 128 (4x4, stride 2, padding 1) -> leaky ReLU 0.2 ->
linear 1. Non-saturating loss; two Adams (lr 2e-4, betas (0.5, 0.999)), each over its own parameters. One step = a D
step on the real batch and a detached fake batch G(z) (generated under no_grad; real and fake go through D
concatenated, D has no batch norm), then a G step on fresh noise (G forward again, D's parameters frozen).

RealNVP-style flow on flattened 784-d data: 4 affine couplings with alternating masks (first / second half), each
coupling net 784 -> 512 -> 512 -> 784x2 (ReLU) on the masked input; s = tanh(.) and t on the unmasked half:
y = x * exp(s) + t; loss = -(log N(z; 0, I) + sum s), batch mean; Adam 1e-3.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_bench import timed  # one timing rule for every figure

BATCH = 128




def init_normal(module, std=0.02):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(100, 7 * 7 * 128, bias=False)
        self.bn1 = nn.BatchNorm2d(128)
        self.t1 = nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False)  # 7 -> 14
        self.bn2 = nn.BatchNorm2d(64)
        self.t2 = nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1)  # 14 -> 28
        init_normal(self)

    def forward(self, z):
        h = F.relu(self.bn1(self.dense(z).reshape(z.shape[0], 128, 7, 7)))
        h = F.relu(self.bn2(self.t1(h)))
        return torch.tanh(self.t2(h))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 64, 4, stride=2, padding=1)  # 28 -> 14
        self.c2 = nn.Conv2d(64, 128, 4, stride=2, padding=1)  # 14 -> 7
        self.dense = nn.Linear(7 * 7 * 128, 1)
        init_normal(self)

    def forward(self, x):
        h = F.leaky_relu(self.c1(x), 0.2)
        h = F.leaky_relu(self.c2(h), 0.2)
        return self.dense(h.reshape(x.shape[0], -1))


def dcgan_step(G, D, opt_g, opt_d, real):
    """One DCGAN step on a real batch: D on [real; G(z) detached], then G on fresh noise with D frozen."""
    B = real.shape[0]
    with torch.no_grad():
        fake = G(torch.randn(B, 100))
    logits = D(torch.cat([real, fake], 0))
    loss_d = F.softplus(-logits[:B]).mean() + F.softplus(logits[B:]).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()

    for p in D.parameters():
        p.requires_grad_(False)
    loss_g = F.softplus(-D(G(torch.randn(B, 100)))).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    for p in D.parameters():
        p.requires_grad_(True)
    return loss_d, loss_g


def dcgan_figure(min_seconds):
    torch.manual_seed(3)
    G, D = Generator(), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(BATCH, 1, 28, 28) * 2 - 1
    last = [0.0]

    def step():
        loss_d, loss_g = dcgan_step(G, D, opt_g, opt_d, real)
        last[0] = loss_d.item() + loss_g.item()

    per, runs, secs = timed(step, min_seconds)
    assert math.isfinite(last[0])
    return {"value": BATCH / per, "unit": "images/s", "runs": runs, "seconds": secs}


class RealNvp(nn.Module):
    def __init__(self, d=784, h=512, layers=4):
        super().__init__()
        self.d = d
        self.nets = nn.ModuleList()
        for _ in range(layers):
            net = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2 * d))  # [scale | shift]
            for m, std in zip((net[0], net[2], net[4]), (math.sqrt(2 / d), math.sqrt(2 / h), 0.01)):
                nn.init.normal_(m.weight, 0.0, std)
                nn.init.zeros_(m.bias)
            self.nets.append(net)
        first = (torch.arange(d) < d // 2).float()
        # mask i keeps (conditions on) the first half for even i, the second half for odd i
        self.register_buffer("masks", torch.stack([first if i % 2 == 0 else 1 - first for i in range(layers)]))

    def nll(self, x):
        log_det = 0.0
        for i, net in enumerate(self.nets):
            m = self.masks[i]
            s, t = net(x * m).chunk(2, 1)
            s, t = torch.tanh(s) * (1 - m), t * (1 - m)
            x = x * torch.exp(s) + t  # masked dims: s = t = 0, unchanged
            log_det = log_det + s.sum(1)
        return (0.5 * x.pow(2).sum(1) + 0.5 * self.d * math.log(2 * math.pi) - log_det).mean()


def realnvp_figure(min_seconds):
    torch.manual_seed(4)
    model = RealNvp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(BATCH, 784)
    last = [0.0]

    def step():
        loss = model.nll(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last[0] = loss.item()

    per, runs, secs = timed(step, min_seconds)
    assert math.isfinite(last[0])
    return {"value": BATCH / per, "unit": "images/s", "runs": runs, "seconds": secs}


def figures(min_seconds, want=lambda name: True):
    r = {}
    if want("train dcgan b128"):
        r["train dcgan b128"] = dcgan_figure(min_seconds)
    if want("train realnvp-mlp b128"):
        r["train realnvp-mlp b128"] = realnvp_figure(min_seconds)
    return r


if __name__ == "__main__":
    import json
    import os
    import sys

    torch.set_num_threads(int(os.environ.get("DEEPGEN_THREADS", "2")))
    print(json.dumps(figures(float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 2.0)))
