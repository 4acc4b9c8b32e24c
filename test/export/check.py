"""Test helper: for each exported package folder given, run its networks on io.safetensors' inputs and its train.py
objective on the recorded draws; print JSON {folder: {network.output: max abs diff, loss.*: [pytorch, deepgen]}}."""
import importlib.util
import json
import sys

import torch


def load(folder, name):
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, f'{folder}/{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def as_torch(v):
    return v.long() if v.dtype == torch.int32 else v


def check(folder):
    sys.path.insert(0, folder)
    try:
        model_mod = load(folder, 'model')
        train = load(folder, 'train')
    finally:
        sys.path.pop(0)
    m = model_mod.Model(folder)
    io = model_mod.load_safetensors(f'{folder}/io.safetensors')
    out = {'params': sorted(m.state_dict().keys())}
    for net in model_mod.NETWORKS:
        ins = {k.split('.', 2)[2]: as_torch(v) for k, v in io.items() if k.startswith(f'{net}.in.')}
        with torch.no_grad():
            got = m(net, **ins)
        for k, v in got.items():
            out[f'{net}.{k}'] = float((v.float() - io[f'{net}.out.{k}'].float()).abs().max())
    if 'loss.expected' in io:
        g = lambda k: as_torch(io[k]) if k in io else None
        cond = None
        if 'loss.labels' in io:
            cond = {'labels': g('loss.labels')}
        drop = g('loss.drop').bool() if 'loss.drop' in io else None
        fam = train.FAMILY
        with torch.no_grad():
            if fam == 'diffusion':
                loss = train.DiffusionLoss(m)(g('loss.x'), g('loss.t'), g('loss.eps'), drop=drop, cond=cond)
                out['loss'] = [float(loss), float(io['loss.expected'][0])]
            elif fam in ('vae', 'ae'):
                loss = train.VaeLoss(m)(g('loss.x'), g('loss.eps'), drop=drop, cond=cond)
                out['loss'] = [float(loss), float(io['loss.expected'][0])]
            elif fam in ('pixelcnn', 'igpt', 'flow'):
                loss = getattr(train, train.OBJECTIVES[fam])(m)(g('loss.x'), drop=drop, cond=cond)
                out['loss'] = [float(loss), float(io['loss.expected'][0])]
            else:
                obj = train.GanLoss(m)
                out['lossD'] = [float(obj('D', g('loss.x'), g('loss.z'), drop=drop, cond=cond)), float(io['loss.expected'][0])]
                out['lossG'] = [float(obj('G', g('loss.x'), g('loss.zG'), drop=drop, cond=cond)), float(io['loss.expected'][1])]
    return out


print(json.dumps({f: check(f) for f in sys.argv[1:]}))
