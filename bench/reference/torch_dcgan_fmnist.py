"""Train bench/reference's PyTorch DCGAN (torch_gan_flow.py: same G and D, non-saturating loss, two Adams lr 2e-4,
betas (0.5, 0.999), batch 128) on Fashion-MNIST for a number of steps, then write N samples as one grid PNG
(torchvision make_grid's layout: 2 px padding and border, black) for `deepgen score`. No torchvision needed.

  /usr/bin/python3 bench/reference/torch_dcgan_fmnist.py --steps 3051 --n 10000 --out /tmp/torch-dcgan.png
  deepgen score /tmp/torch-dcgan.png --tile 28 --dataset fashion-mnist
"""
import argparse
import gzip
import os
import struct
import sys
import time
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gan_flow import Discriminator, Generator, dcgan_step  # noqa: E402  the bench's model and step


def load_images(path):
    with gzip.open(path, "rb") as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
    return data.reshape(n, 1, h, w).float() / 127.5 - 1  # [-1, 1], as deepgen's 'symmetric' preprocessing


def write_png_gray(path, pixels):
    """pixels: uint8 tensor [H, W]; an 8-bit grey PNG."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + bytes(pixels[y].tolist()) for y in range(h))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path + ".part", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    os.replace(path + ".part", path)


def grid(images, cols, pad=2):
    """images [n, 1, 28, 28] in [0, 255] -> one [H, W] uint8 grid, make_grid's layout (padding and outer border)."""
    n, _, h, w = images.shape
    rows = (n + cols - 1) // cols
    out = torch.zeros(rows * (h + pad) + pad, cols * (w + pad) + pad, dtype=torch.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = images[i, 0]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
    p.add_argument("--steps", type=int, default=3051)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--cols", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch's default)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x = load_images(a.data)
    G, D = Generator(), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    B, t0, step, order = a.batch, time.time(), 0, torch.randperm(len(x))
    pos = 0
    while step < a.steps:
        if pos + B > len(x):  # a new epoch: reshuffle, drop the last partial batch
            order, pos = torch.randperm(len(x)), 0
        real = x[order[pos : pos + B]]
        pos += B
        loss_d, loss_g = dcgan_step(G, D, opt_g, opt_d, real)
        step += 1
        if step % 100 == 0 or step == a.steps:
            el = time.time() - t0
            print(f"step {step}/{a.steps} loss_d {loss_d.item():.3f} loss_g {loss_g.item():.3f} {step * B / el:.0f} img/s {el:.0f}s", flush=True)
    print(f"trained {a.steps} steps of {B} in {time.time() - t0:.0f}s with {torch.get_num_threads()} threads", flush=True)
    G.train()  # batch norm on each sampling batch's own statistics, as during training (DCGAN's usual sampling)
    out = []
    with torch.no_grad():
        for i in range(0, a.n, 500):
            out.append(((G(torch.randn(min(500, a.n - i), 100)) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    write_png_gray(a.out, grid(torch.cat(out), a.cols))
    print(f"wrote {a.n} samples to {a.out}")


if __name__ == "__main__":
    main()
