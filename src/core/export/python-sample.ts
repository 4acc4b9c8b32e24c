// sample.py of an exported package: draws a grid of samples from the exported weights (or a train.py checkpoint)
// with PyTorch alone: DDIM with classifier-free guidance for diffusion, the prior for the VAE, G(z) for the GAN.
export const SAMPLE_PY = String.raw`"""Draw samples from the exported deepgen model with PyTorch and write them as a PNG grid.

    python3 sample.py --n 16 --out samples.png                      # the exported weights
    python3 sample.py --weights checkpoint/ema.safetensors          # what train.py wrote
    python3 sample.py --label 3 --guidance 2                        # a label-conditional model
"""
import argparse
import json
import math
import os
import struct
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import Model, load_safetensors  # noqa: E402
from train import timestep_embedding, null_mix  # noqa: E402

CONFIG = json.load(open(os.path.join(HERE, 'config.json')))
FAMILY, MODEL, DATA, EXPORT = CONFIG['family'], CONFIG['config']['model'], CONFIG['config']['data'], CONFIG['export']


def write_png(path, grid_u8):
    """A uint8 [H, W, C] array (C = 1 or 3) as a PNG file."""
    h, w, c = grid_u8.shape
    raw = b''.join(b'\x00' + grid_u8[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xFFFFFFFF)
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0 if c == 1 else 2, 0, 0, 0))
    png += chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(png)


def grid(x01, cols):
    n, h, w, c = x01.shape
    rows = math.ceil(n / cols)
    g = torch.ones(rows * (h + 1) + 1, cols * (w + 1) + 1, c)
    for i in range(n):
        r, k = divmod(i, cols)
        g[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = x01[i]
    return (g.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def condition(model, n, args):
    kind = MODEL.get('cond', {}).get('kind', 'none')
    if kind == 'none':
        return None
    if kind == 'label':
        labels = torch.tensor([args.label if args.label is not None else i % EXPORT['numClasses'] for i in range(n)])
        return {'labels': labels}
    raise SystemExit('sample.py: text prompts need deepgen\'s tokenizer; sample text models with deepgen sample after deepgen import')


@torch.no_grad()
def ddim(model, n, gen, args):
    """DDIM (eta = 0) over --steps evenly spaced timesteps, eps from the prediction, guided: eps_u + w (eps_c - eps_u)."""
    H, W, C = EXPORT['shape']
    ab = torch.tensor(EXPORT['diffusion']['alphaBar'], dtype=torch.float64)
    T = MODEL['T']
    ts = sorted({round(i * (T - 1) / max(args.steps - 1, 1)) for i in range(args.steps)}, reverse=True)
    x = torch.randn(n, H, W, C, generator=gen)
    cin = condition(model, n, args)
    c = model('embed', **cin) if cin is not None else None
    u = null_mix(c, model.tensors()['cond.null'], torch.ones(n, dtype=torch.bool)) if c is not None else None
    for i, t in enumerate(ts):
        a = ab[t].float()
        temb = timestep_embedding(torch.full((n,), t), MODEL['channels'][0])

        def eps_of(kw):
            out = model('denoise', x=x, temb=temb, **kw)['out']
            return out if MODEL['prediction'] == 'eps' else a.sqrt() * out + (1 - a).sqrt() * x

        eps = eps_of(c or {})
        if c is not None and args.guidance != 1:
            eu = eps_of(u)
            eps = eu + args.guidance * (eps - eu)
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        a_prev = ab[ts[i + 1]].float() if i + 1 < len(ts) else torch.tensor(1.0)
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return (x + 1) / 2


@torch.no_grad()
def draw(model, n, gen, args):
    if FAMILY == 'diffusion':
        return ddim(model, n, gen, args)
    cin = condition(model, n, args)
    if FAMILY in ('vae', 'ae'):
        z = torch.randn(n, MODEL['latent'], generator=gen)
        kw = {'c': model('embed', **cin)['vec']} if cin is not None else {}
        d = model('decode', z=z, **kw)['out']
        return torch.sigmoid(d)
    if FAMILY == 'gan':
        z = torch.randn(n, MODEL['latent'], generator=gen)
        kw = {'c': model('embed_G', **cin)['vec']} if cin is not None else {}
        return (model('generate', z=z, **kw)['out'] + 1) / 2
    H, W, C = EXPORT['shape']
    kw = {'c': model('embed', **cin)['vec']} if cin is not None else {}
    if FAMILY == 'pixelcnn':
        # raster order, one colour value at a time: p(x_i | x_<i) from the masked network on the image so far
        cat = MODEL['output'] == 'categorical'
        x = torch.zeros(n, H, W, C)
        for i in range(H):
            for j in range(W):
                for ch in range(C):
                    logits = model('predict', x=x * 2 - 1, **kw)['out'][:, i, j, ch]
                    if cat:
                        k = torch.multinomial(torch.softmax(logits / args.temperature, -1), 1, generator=gen)[:, 0]
                        x[:, i, j, ch] = k.float() / 255
                    else:
                        x[:, i, j, ch] = (torch.rand(n, generator=gen) < torch.sigmoid(logits[:, 0])).float()
        return x
    if FAMILY == 'igpt':
        # one token at a time from the logits of the tokens so far; tokens to colours with deepgen's palette
        N = H * W
        t = torch.zeros(n, N, dtype=torch.long)
        for p in range(N):
            logits = model('predict', tokens=t[:, :N - 1], **kw)['out'][:, p]
            t[:, p] = torch.multinomial(torch.softmax(logits / args.temperature, -1), 1, generator=gen)[:, 0]
        colors = torch.tensor(EXPORT['palette']['colors']).reshape(-1, C)
        return colors[t].reshape(n, H, W, C)
    raise SystemExit(f'sample.py: no sampler for the {FAMILY} family; deepgen import the weights and run deepgen sample')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=16)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--weights', help='a weights file (default: the exported weights.safetensors)')
    ap.add_argument('--steps', type=int, default=50, help='DDIM steps (diffusion)')
    ap.add_argument('--guidance', type=float, default=MODEL.get('guidance', 1) if FAMILY == 'diffusion' else 1)
    ap.add_argument('--label', type=int)
    ap.add_argument('--temperature', type=float, default=1.0, help='softmax temperature (PixelCNN, image GPT)')
    ap.add_argument('--out', default='samples.png')
    args = ap.parse_args()
    model = Model(HERE).eval()
    if args.weights:
        w = load_safetensors(args.weights)
        own = dict(model.state_dict())
        model.load_state_dict({**own, **{k: v for k, v in w.items() if k in own}})
    x = draw(model, args.n, torch.Generator().manual_seed(args.seed), args)
    write_png(args.out, grid(x, math.ceil(math.sqrt(args.n))))
    print(f'wrote {args.out}: {args.n} samples')


if __name__ == '__main__':
    main()
`;
