// train.py of an exported package: the family's loss (each beside its formula, as in src/core/families/*/loss.ts),
// Adam with deepgen's schedule and EMA, the data pipeline, DistributedDataParallel (torchrun or --nproc N; gloo on
// CPU, NCCL on GPUs), resume and safetensors checkpoints. The networks come from the generated model.py.
export const TRAIN_PY = String.raw`"""Train the exported deepgen model with PyTorch, on one process or many (DistributedDataParallel).

    python3 train.py --data data.safetensors --steps 1000               # one process
    python3 train.py --data data.safetensors --steps 1000 --nproc 2     # 2 processes on this machine (gloo on CPU)
    torchrun --nproc_per_node 4 train.py --data data.safetensors        # under torchrun (NCCL when CUDA is there)

Checkpoints go to --out (default checkpoint/): weights.safetensors, ema.safetensors, optimizer.safetensors and
state.json, written atomically; a run started again with the same --out resumes. --batch-size is per process.
Bring the weights back with: deepgen import . --out RUN
"""
import argparse
import json
import math
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import Model, load_safetensors, save_safetensors  # noqa: E402

CONFIG = json.load(open(os.path.join(HERE, 'config.json')))
FAMILY = CONFIG['family']
MODEL = CONFIG['config']['model']
TRAIN = CONFIG['config']['train']
DATA = CONFIG['config']['data']
EXPORT = CONFIG['export']


def timestep_embedding(t, dim):
    """[sin(t f_i), cos(t f_i)], f_i = 10000^(-i/half), in float64 as deepgen computes it; [B, dim] float32."""
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float64) / half)
    a = t.to(torch.float64).cpu()[:, None] * f[None]
    out = torch.zeros(t.shape[0], dim, dtype=torch.float64)
    out[:, :half], out[:, half:2 * half] = torch.sin(a), torch.cos(a)
    return out.to(torch.float32).to(t.device)


def preprocess(x_u8, gen):
    """uint8 NHWC -> the model's values, as deepgen's data.preprocess (src/core/data/preprocess.ts)."""
    x = x_u8.to(torch.float32)
    mode = DATA['preprocess']
    if mode == 'scale01':
        return x / 255
    if mode == 'symmetric':
        return x / 255 * 2 - 1
    if mode == 'binarize-dynamic':
        return (torch.rand(x.shape, generator=gen) < x / 255).to(torch.float32)
    if mode == 'binarize-fixed':
        return (x / 255 > 0.5).to(torch.float32)
    if mode == 'dequantize':
        return (x + torch.rand(x.shape, generator=gen) * (1 - 2 ** -9)) / 256
    raise SystemExit(f'train.py: unknown data.preprocess {mode}')


def cond_inputs(batch, model):
    """The condition encoder's inputs from a batch (labels, or token ids and mask), or None."""
    if 'labels' in batch:
        return {'labels': batch['labels']}
    if 'ids' in batch:
        return {'ids': batch['ids'], 'mask': batch['mask']}
    return None


def null_mix(c, null_vec, drop):
    """c_i = d_i null + (1 - d_i) c_i for vec, seq, mask: the null condition is the null vector in row 0, then padding."""
    B, S, D = c['seq'].shape
    n_vec = null_vec.expand(B, D)
    n_seq = torch.cat([n_vec[:, None], torch.zeros(B, S - 1, D, device=n_vec.device)], 1)
    n_mask = torch.zeros(B, S, device=n_vec.device)
    n_mask[:, 0] = 1
    d = drop.to(torch.float32)
    mix = lambda a, b: a * (1 - d.view(B, *[1] * (a.dim() - 1))) + b * d.view(B, *[1] * (a.dim() - 1))
    return {'vec': mix(c['vec'], n_vec), 'seq': mix(c['seq'], n_seq), 'mask': mix(c['mask'], n_mask)}


class DiffusionLoss(nn.Module):
    """L = E_{x0, t, eps} w_t || target - f(sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) eps, t, y) ||^2,
    target = eps or v = sqrt(alphaBar_t) eps - sqrt(1 - alphaBar_t) x0; y is the null condition with probability p."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer('alpha_bar', torch.tensor(EXPORT['diffusion']['alphaBar'], dtype=torch.float64), persistent=False)

    def forward(self, x0, t, eps, drop=None, cond=None):
        ab = self.alpha_bar[t]
        a, s = ab.sqrt().to(torch.float32).view(-1, 1, 1, 1), (1 - ab).sqrt().to(torch.float32).view(-1, 1, 1, 1)
        xt = a * x0 + s * eps
        target = eps if MODEL['prediction'] == 'eps' else a * eps - s * x0
        kw = {}
        if cond is not None:
            c = self.model('embed', **cond)
            kw = null_mix(c, self.model.tensors()['cond.null'], drop)
        out = self.model('denoise', x=xt, temb=timestep_embedding(t, MODEL['channels'][0]), **kw)['out']
        per = torch.square(out - target).mean(dim=(1, 2, 3))
        if MODEL['lossWeight'] == 'uniform':
            return per.mean()
        snr = ab / (1 - ab)
        g = MODEL['minSnrGamma']
        w = torch.minimum(snr, torch.tensor(g, dtype=torch.float64)) / (snr + 1) if MODEL['prediction'] == 'v' else torch.where(snr <= g, torch.ones_like(snr), g / snr)
        return (per * w.to(torch.float32)).mean()

    def draws(self, x0, gen):
        B = x0.shape[0]
        return {'t': torch.randint(0, MODEL['T'], (B,), generator=gen).to(x0.device), 'eps': torch.randn(x0.shape, generator=gen).to(x0.device)}


class VaeLoss(nn.Module):
    """VAE: -E_q[log p(x|z)] + beta KL(q(z|x) || N(0, I)), one reparameterised z = mu + exp(logVar / 2) eps.
    AE: -log p(x | z = enc(x))."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        if MODEL['likelihood'] == 'logistic':
            raise SystemExit('train.py: the discretized-logistic VAE likelihood is not exported yet; train it in deepgen or use bernoulli/gaussian')

    def forward(self, x, eps, drop=None, cond=None):
        c = embed_vec(self.model, cond, drop)
        o = self.model('encode', x=x, **c)['out']
        L = MODEL['latent']
        variational = EXPORT['variational']
        mu, log_var = (o[:, :L], o[:, L:]) if variational else (o, torch.zeros_like(o))
        z = mu + torch.exp(0.5 * log_var) * eps if variational else mu
        d = self.model('decode', z=z, **c)['out']
        if MODEL['likelihood'] == 'bernoulli':
            log_px = -(F.softplus(d) - d * x).flatten(1).sum(1)
        else:
            lv = self.model.tensors()['decoder.logVar'] if MODEL.get('learnSigma') else torch.tensor(2 * math.log(MODEL['sigma']))
            log_px = (-0.5 * (torch.square(x - torch.sigmoid(d)) / torch.exp(lv) + lv + math.log(2 * math.pi))).flatten(1).sum(1)
        recon = -log_px.mean()
        if not variational:
            return recon
        kl = (0.5 * (torch.square(mu) + torch.exp(log_var) - 1 - log_var).sum(1)).mean()
        return recon + MODEL['beta'] * kl

    def draws(self, x, gen):
        return {'eps': torch.randn(x.shape[0], MODEL['latent'], generator=gen).to(x.device)}


class GanLoss(nn.Module):
    """ns: D maximises log D(x) + log(1 - D(G(z))), G maximises log D(G(z)); hinge: D minimises relu(1 - D(x)) +
    relu(1 + D(G(z))), G minimises -D(G(z)). One D update, then one G update, per step."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        if MODEL['loss'] not in ('ns', 'hinge') or MODEL['acWeight'] > 0 or MODEL['modeSeeking'] > 0 or MODEL['nCritic'] > 1:
            raise SystemExit('train.py: this GAN uses a loss term not exported yet (wgan-gp, acWeight, modeSeeking or nCritic > 1); ns and hinge are')

    def forward(self, phase, x, z, drop=None, cond=None):
        fake = self.model('generate', z=z, **embed_vec(self.model, cond, drop, 'G'))['out']
        cd = embed_vec(self.model, cond, drop, 'D')
        if phase == 'D':
            real_s = self.model('discriminate', x=x, **cd)['out']
            fake_s = self.model('discriminate', x=fake.detach(), **cd)['out']
            if MODEL['loss'] == 'ns':
                return F.softplus(-real_s).mean() + F.softplus(fake_s).mean()
            return torch.relu(1 - real_s).mean() + torch.relu(1 + fake_s).mean()
        s = self.model('discriminate', x=fake, **cd)['out']
        return F.softplus(-s).mean() if MODEL['loss'] == 'ns' else -s.mean()

    def draws(self, x, gen):
        return {'z': torch.randn(x.shape[0], MODEL['latent'], generator=gen).to(x.device)}


def embed_vec(model, cond, drop, which=''):
    """c [B, dim] from the condition encoder; rows with drop get the null embedding. {} when unconditional."""
    if cond is None:
        return {}
    prefix = f'{which}.cond' if which else 'cond'
    e = model(f'embed_{which}' if which else 'embed', **cond)
    return {'c': null_mix(e, model.tensors()[f'{prefix}.null'], drop)['vec']}


class PixelCnnLoss(nn.Module):
    """-log p(x) = -sum_i log p(x_i | x_<i, c): a 256-way categorical per colour value (or a Bernoulli of binarized
    data), all pixels at once through the masked convolutions; the loss is its batch mean in nats per image."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, drop=None, cond=None):
        cat = MODEL['output'] == 'categorical'
        k = torch.clamp(torch.round(x * 255), 0, 255) if cat else (x > 0.5).to(torch.float32)
        v = (k / 255 if cat else k) * 2 - 1
        logits = self.model('predict', x=v, **embed_vec(self.model, cond, drop))['out']  # [B, H, W, C, K]
        if cat:
            nll = -torch.log_softmax(logits, -1).gather(-1, k.long()[..., None]).flatten(1).sum(1)
        else:
            l = logits[..., 0]
            nll = (F.softplus(l) - l * k).flatten(1).sum(1)
        return nll.mean()

    def draws(self, x, gen):
        return {}


def image_tokens(x01):
    """deepgen's palette: each 8-bit value to its level, a pixel's levels to one token (export.palette)."""
    pal = EXPORT['palette']
    level_of = torch.tensor(pal['levelOf'], device=x01.device)
    v = torch.clamp(torch.round(x01 * 255), 0, 255).long()
    lv = level_of[v]  # [B, H, W, C]
    t = torch.zeros(lv.shape[:3], dtype=torch.long, device=x01.device)
    for c in range(lv.shape[3]):
        t = t * pal['levels'] + lv[..., c]
    return t.flatten(1)  # [B, N]


class IgptLoss(nn.Module):
    """-log p(t) = -sum_i log softmax(logits_i)[t_i] over the N tokens of an image (raster order), batch mean."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, drop=None, cond=None):
        t = image_tokens(x)
        logits = self.model('predict', tokens=t[:, :-1], **embed_vec(self.model, cond, drop))['out']  # [B, N, V]
        return -torch.log_softmax(logits, -1).gather(-1, t[..., None]).sum((1, 2)).mean()

    def draws(self, x, gen):
        return {}


class FlowLoss(nn.Module):
    """The 8-bit bound with uniform dequantization, y = (k + u) / 256 from the data pipeline:
    -log P(x) <= -(sum_s log N(z_s; 0, I) + log|det dz/dy|) + D log 256, batch mean."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        if MODEL['dequant']['kind'] != 'uniform':
            raise SystemExit('train.py: variational dequantization is not exported yet; uniform is')

    def forward(self, x, drop=None, cond=None):
        out = self.model('density', y=x, **embed_vec(self.model, cond, drop))
        log_pz = sum((-0.5 * torch.square(z) - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1) for k, z in out.items() if k != 'logdet')
        D = x[0].numel()
        return (-(log_pz + out['logdet']) + D * math.log(256)).mean()

    def draws(self, x, gen):
        return {}


OBJECTIVES = {'diffusion': 'DiffusionLoss', 'vae': 'VaeLoss', 'ae': 'VaeLoss', 'gan': 'GanLoss', 'pixelcnn': 'PixelCnnLoss', 'igpt': 'IgptLoss', 'flow': 'FlowLoss'}


def lr_at(step, total):
    """deepgen's schedule: linear warmup, then constant, cosine or linear decay to 0 (src/core/train/lr-schedule.ts)."""
    base, warm = TRAIN['lr'], TRAIN['warmupSteps']
    if warm and step < warm:
        return base * (step + 1) / warm
    kind = TRAIN['lrSchedule']
    if kind == 'constant' or total <= warm:
        return base
    p = (step - warm) / max(total - warm, 1)
    return base * (0.5 * (1 + math.cos(math.pi * p)) if kind == 'cosine' else 1 - p)


def out_of_time(t0, minutes, distributed):
    """Whether --minutes are over, as rank 0 sees it (every process stops at the same step)."""
    if not minutes:
        return False
    flag = torch.tensor([1.0 if time.time() - t0 > 60 * minutes else 0.0])
    if distributed:
        dist.broadcast(flag, 0)
    return bool(flag[0] > 0)


def save_checkpoint(out, model, ema, opts, step, metrics):
    os.makedirs(out, exist_ok=True)
    meta = {'step': step, 'family': FAMILY}
    model.save(os.path.join(out, 'weights.safetensors'), meta)
    if ema is not None:
        save_safetensors(ema, os.path.join(out, 'ema.safetensors'), meta)
    moments = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group, opt in opts.items():
        for p, st in opt.state.items():
            if 'exp_avg' in st:
                moments[f'{group}/{names[id(p)]}.m'] = st['exp_avg']
                moments[f'{group}/{names[id(p)]}.v'] = st['exp_avg_sq']
                moments[f'{group}/{names[id(p)]}.t'] = torch.tensor([float(st['step'])])
    save_safetensors(moments, os.path.join(out, 'optimizer.safetensors'), meta)
    tmp = os.path.join(out, f'state.json.tmp-{os.getpid()}')
    with open(tmp, 'w') as f:
        json.dump({'step': step, 'family': FAMILY, **metrics}, f)
    os.replace(tmp, os.path.join(out, 'state.json'))


def worker(rank, world, args):
    distributed = world > 1
    cuda = torch.cuda.is_available() and args.device != 'cpu'
    if distributed:
        dist.init_process_group('nccl' if cuda else 'gloo', rank=rank, world_size=world)
    device = torch.device(f'cuda:{rank % torch.cuda.device_count()}' if cuda else 'cpu')
    torch.set_num_threads(args.threads)
    data = load_safetensors(args.data)
    images = data['images']
    n = images.shape[0]
    model = Model(HERE).to(device)
    out = args.out
    # a checkpoint in --out resumes; else the run continues from the exported step, EMA and Adam state
    resume = os.path.exists(os.path.join(out, 'state.json'))
    src = out if resume else HERE
    if resume:
        model.load(os.path.join(out, 'weights.safetensors'))
        step = json.load(open(os.path.join(out, 'state.json')))['step']
    else:
        step = EXPORT['from']['step']
    objective = globals()[OBJECTIVES[FAMILY]](model).to(device)
    # GAN phases leave one network's parameters unused (D's step does not reach G)
    wrapped = nn.parallel.DistributedDataParallel(objective, find_unused_parameters=FAMILY == 'gan') if distributed else objective
    b1, b2 = TRAIN['beta1'], TRAIN['beta2']
    if FAMILY == 'gan':
        names = dict(model.named_parameters())
        d_scale = MODEL['dLrScale'] if MODEL['dLrScale'] > 0 else 0.5
        groups = {'D': ([p for k, p in names.items() if k.startswith('D.')], d_scale), 'G': ([p for k, p in names.items() if k.startswith('G.')], 1)}
    else:
        groups = {'model': (list(model.parameters()), 1)}
    # deepgen's Adam decouples weight decay (AdamW): w <- (1 - lr decay) w - lr m^ / (sqrt(v^) + eps), src/core/train/adam.ts
    opts = {g: torch.optim.AdamW(ps, lr=TRAIN['lr'] * s, betas=(b1, b2), eps=1e-8, weight_decay=TRAIN['weightDecay']) for g, (ps, s) in groups.items()}
    if os.path.exists(os.path.join(src, 'optimizer.safetensors')):
        m = load_safetensors(os.path.join(src, 'optimizer.safetensors'))
        pnames = {id(p): k for k, p in model.named_parameters()}
        for g, opt in opts.items():
            for p in groups[g][0]:
                k = f'{g}/{pnames[id(p)]}'
                if f'{k}.m' in m:
                    opt.state[p] = {'step': torch.tensor(float(m[f'{k}.t'][0])), 'exp_avg': m[f'{k}.m'].to(device), 'exp_avg_sq': m[f'{k}.v'].to(device)}
    ema_decay = TRAIN['ema']
    ema_names = [k for k, _ in model.named_parameters() if FAMILY != 'gan' or k.startswith('G.')]
    ema = None
    if ema_decay > 0:
        start = os.path.join(src, 'ema.safetensors')
        ema = load_safetensors(start) if os.path.exists(start) else {k: v.detach().clone().cpu() for k, v in model.named_parameters() if k in ema_names}
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank)
    B = args.batch_size
    total = args.steps
    t0, seen, last, first = time.time(), 0, None, step
    while step < total:
        epoch_gen = torch.Generator().manual_seed(args.seed + step // max(n // (B * world), 1))
        perm = torch.randperm(n, generator=epoch_gen)[rank::world]
        for i in range(0, len(perm) - B + 1, B):
            if step >= total or out_of_time(t0, args.minutes, distributed):
                total = step
                break
            idx = perm[i:i + B]
            x = preprocess(images[idx], gen).to(device)
            batch = {k: v[idx].to(device) for k, v in data.items() if k in ('labels', 'ids', 'mask')}
            cond = cond_inputs(batch, model)
            lr = lr_at(step, total)
            d = objective.draws(x, gen)
            if cond is not None:
                d['drop'] = (torch.rand(B, generator=gen) < MODEL['cond']['dropProb']).to(device)
            phases = ['D', 'G'] if FAMILY == 'gan' else [None]
            for ph in phases:
                if ph == 'G':
                    d.update(objective.draws(x, gen))  # G's step draws its own z
                opt = opts['model' if ph is None else ph]
                for g in opt.param_groups:
                    g['lr'] = lr * groups['model' if ph is None else ph][1]
                for o in opts.values():
                    o.zero_grad(set_to_none=True)
                if ph is None:
                    loss = wrapped(x, cond=cond, **d)
                else:
                    loss = wrapped(ph, x, cond=cond, **d)
                loss.backward()
                if TRAIN['clipNorm'] > 0:
                    torch.nn.utils.clip_grad_norm_(groups['model' if ph is None else ph][0], TRAIN['clipNorm'])
                opt.step()
            step += 1
            if ema is not None:
                # ema <- d_t ema + (1 - d_t) w, d_t = min(decay, (1 + t) / (10 + t)) at update t = step (src/core/train/ema.ts)
                d_t = min(ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for k, p in model.named_parameters():
                        if k in ema:
                            ema[k].mul_(d_t).add_(p.detach().cpu(), alpha=1 - d_t)
            seen += B * world
            last = float(loss)
            if rank == 0 and (step % args.log_every == 0 or step == total):
                el = time.time() - t0
                print(f'step {step}/{total} loss {last:.5f} lr {lr:.2e} {seen / el:.1f} images/s ({world} process{"es" if world > 1 else ""})', flush=True)
            if rank == 0 and args.save_every and step % args.save_every == 0:
                save_checkpoint(out, model, ema, opts, step, {'loss': last})
    if rank == 0:
        el = time.time() - t0
        save_checkpoint(out, model, ema, opts, step, {'loss': last, 'seconds': el, 'processes': world})
        print(f'trained steps {first}..{step} in {el:.0f} s ({seen / max(el, 1e-9):.1f} images/s on {world} process{"es" if world > 1 else ""}); saved {out}', flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=os.path.join(HERE, 'data.safetensors'), help='training images (deepgen export --data)')
    ap.add_argument('--steps', type=int, default=(TRAIN['steps'] or 1000), help='the step to train up to (counting the exported run\'s steps)')
    ap.add_argument('--minutes', type=float, default=0, help='also stop after this many minutes of training (0 = no limit)')
    ap.add_argument('--batch-size', type=int, default=TRAIN['batchSize'], help='images per process and step')
    ap.add_argument('--nproc', type=int, default=1, help='processes on this machine (torch.multiprocessing; gloo on CPU, NCCL on GPUs)')
    ap.add_argument('--out', default=os.path.join(HERE, 'checkpoint'), help='checkpoint folder (resumed when it has state.json)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1, help='torch threads per process')
    ap.add_argument('--log-every', type=int, default=TRAIN['logEvery'])
    ap.add_argument('--save-every', type=int, default=TRAIN['checkpointEvery'])
    ap.add_argument('--device', default='auto', choices=['auto', 'cpu'])
    args = ap.parse_args()
    if not os.path.exists(args.data):
        raise SystemExit(f'train.py: no training data at {args.data}; write it with deepgen export RUN --to pytorch OUT --data')
    if 'WORLD_SIZE' in os.environ:  # torchrun
        worker(int(os.environ['RANK']), int(os.environ['WORLD_SIZE']), args)
    elif args.nproc > 1:
        os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
        os.environ.setdefault('MASTER_PORT', str(free_port()))
        mp.spawn(worker, args=(args.nproc, args), nprocs=args.nproc, join=True)
    else:
        worker(0, 1, args)


if __name__ == '__main__':
    main()
`;
