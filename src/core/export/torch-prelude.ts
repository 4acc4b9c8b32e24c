// The fixed Python every exported model.py starts with: safetensors read/write (numpy only; Debian has no python
// safetensors), the parameter container with deepgen's dotted names, and TF.js kernel semantics PyTorch lacks as one op.
export const TORCH_PRELUDE = String.raw`
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_DTYPES = {'F32': np.float32, 'F16': np.float16, 'I32': np.int32, 'I64': np.int64, 'U8': np.uint8, 'F64': np.float64}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def load_safetensors(path):
    """A safetensors file as {name: torch.Tensor} (header checked: size, dtypes, offsets in bounds)."""
    with open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f'{path}: not a safetensors file (shorter than 8 bytes)')
    (n,) = struct.unpack('<Q', raw[:8])
    if n > len(raw) - 8 or n > 100_000_000:
        raise ValueError(f'{path}: header length {n} is out of bounds')
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] not in _DTYPES:
            raise ValueError(f'{path}: tensor {name} has unsupported dtype {info["dtype"]}')
        start, end = info['data_offsets']
        dt = np.dtype(_DTYPES[info['dtype']])
        count = int(np.prod(info['shape'])) if info['shape'] else 1
        if not (0 <= start <= end <= len(data)) or end - start != count * dt.itemsize:
            raise ValueError(f'{path}: tensor {name} has offsets out of bounds')
        arr = np.frombuffer(data[start:end], dtype=dt).reshape(info['shape'])
        out[name] = torch.from_numpy(arr.copy())
    return out


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} as safetensors, atomically (a temporary file renamed over the target)."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        arr = tensors[name].detach().cpu().contiguous().numpy()
        b = arr.tobytes()
        header[name] = {'dtype': _NAMES[arr.dtype], 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in chunks:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Group(nn.Module):
    pass


class DeepgenModule(nn.Module):
    """Parameters as nested modules, so that state_dict() keys are deepgen's dotted names."""

    def __init__(self, params, constants, folder):
        super().__init__()
        for name, shape, _layout, trainable in params:
            *path, leaf = name.split('.')
            m = self
            for part in path:
                if part not in m._modules:
                    m.add_module(part, _Group())
                m = m._modules[part]
            if trainable:
                m.register_parameter(leaf, nn.Parameter(torch.zeros(shape)))
            else:
                m.register_buffer(leaf, torch.zeros(shape))
        self._constant_names = list(constants)
        if constants:
            if folder is None:
                raise ValueError('this model needs its constants.safetensors: Model(folder)')
            stored = load_safetensors(os.path.join(folder, 'constants.safetensors'))
            for k in constants:
                self.register_buffer(k, stored[k], persistent=False)
        if folder is not None:
            self.load(os.path.join(folder, 'weights.safetensors'))

    def tensors(self):
        """Parameters, buffers and constants by name."""
        return {**dict(self.named_parameters()), **dict(self.named_buffers())}

    def load(self, path):
        """Loads weights by name; every missing, unexpected or mis-shaped tensor is named."""
        stored = load_safetensors(path)
        own = self.state_dict()
        missing = sorted(set(own) - set(stored))
        unexpected = sorted(set(stored) - set(own))
        shapes = [f'{k} {list(stored[k].shape)} (model: {list(own[k].shape)})' for k in own if k in stored and stored[k].shape != own[k].shape]
        if missing or unexpected or shapes:
            raise ValueError(f'{path} does not fit this model: missing {missing}, unexpected {unexpected}, shapes {shapes}')
        self.load_state_dict({k: v.to(own[k].dtype) for k, v in stored.items()})

    def save(self, path, metadata=None):
        save_safetensors(self.state_dict(), path, metadata)


def conv2d_nhwc(x, w, b, stride, pads, dilation):
    """TF.js conv2d on NHWC x with an explicit (top, bottom, left, right) padding; w is [out, in, k, k]."""
    x = x.permute(0, 3, 1, 2)
    if any(pads):
        x = F.pad(x, (pads[2], pads[3], pads[0], pads[1]))
    return F.conv2d(x, w, b, stride, 0, dilation).permute(0, 2, 3, 1)


def conv_transpose2d_nhwc(x, w, stride, out_hw, before):
    """TF.js conv2dTranspose: PyTorch's full transposed conv (w [in, out, k, k]) cropped to out_hw from 'before'."""
    y = F.conv_transpose2d(x.permute(0, 3, 1, 2), w, None, stride)
    (oh, ow), (pt, pl) = out_hw, before
    extra_h, extra_w = max(pt + oh - y.shape[2], 0), max(pl + ow - y.shape[3], 0)
    if extra_h or extra_w:
        y = F.pad(y, (0, extra_w, 0, extra_h))
    return y[:, :, pt:pt + oh, pl:pl + ow].permute(0, 2, 3, 1)


def group_norm_nhwc(x, gamma, beta, groups, eps, silu):
    """deepgen's GroupNorm (+ SiLU) of NHWC x; gamma, beta [C] or [B, C] (a per-image affine)."""
    B, H, W, C = x.shape
    y = F.group_norm(x.permute(0, 3, 1, 2), groups, None, None, eps).permute(0, 2, 3, 1)
    if gamma.dim() == 2:
        gamma, beta = gamma.reshape(B, 1, 1, C), beta.reshape(B, 1, 1, C)
    y = y * gamma + beta
    return F.silu(y) if silu else y


def step(x, alpha):
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha)) + x * 0


def maximum(a, b):
    if not torch.is_tensor(a):
        a, b = b, a
    return torch.clamp(a, min=b) if not torch.is_tensor(b) else torch.maximum(a, b)


def minimum(a, b):
    if not torch.is_tensor(a):
        a, b = b, a
    return torch.clamp(a, max=b) if not torch.is_tensor(b) else torch.minimum(a, b)

`;
