// Writes model.py from traced programs: one nn.Module holding every parameter under its deepgen name (state_dict keys
// are deepgen's names), one method per network, each kernel of the trace as the PyTorch op with TF.js's semantics.
// Activations stay NHWC as in deepgen; weights are in PyTorch layouts (layout.ts).
import { UserError } from '../errors.ts';
import { layoutOf, permuteShape, toTorchPerm } from './layout.ts';
import { isPerBatch, type Program, type ProgramNode, type Ref, type Sym } from './program.ts';
import { TORCH_PRELUDE } from './torch-prelude.ts';

export interface ParamInfo {
  name: string;
  shape: number[];
  trainable: boolean;
}

/** A Python literal for a number or a symbolic batch multiple. */
function num(v: unknown): string {
  if (isPerBatch(v)) return v.perBatch === 1 ? 'B' : `${v.perBatch} * B`;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return "float('nan')";
    if (!Number.isFinite(v)) return v > 0 ? "float('inf')" : "float('-inf')";
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `(${v.map(num).join(', ')}${v.length === 1 ? ',' : ''})`;
  throw new Error(`export: cannot write ${JSON.stringify(v)} as Python`);
}

const axes = (v: unknown, rank: number): number[] | null => {
  if (v === null || v === undefined) return null;
  const a = Array.isArray(v) ? (v as number[]) : [v as number];
  return a.map((x) => (x < 0 ? x + rank : x));
};

/** 'same' padding of TF for one spatial axis: [before, after]. */
function samePad(size: number, k: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function convPads(n: ProgramNode, inShape: number[], k: [number, number]): number[] {
  const strides =
    typeof n.attrs.strides === 'number' ? [n.attrs.strides, n.attrs.strides] : (n.attrs.strides as number[]);
  const dil = (n.attrs.dilations ?? [1, 1]) as number[] | number;
  const d = typeof dil === 'number' ? [dil, dil] : dil;
  const pad = n.attrs.pad;
  if (pad === 'valid') return [0, 0, 0, 0];
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (pad !== 'same') throw new UserError(`cannot export ${n.kernel} with pad ${JSON.stringify(pad)}`);
  return [...samePad(inShape[1], k[0], strides[0], d[0]), ...samePad(inShape[2], k[1], strides[1], d[1])];
}

function activation(name: unknown, x: string, alpha: unknown): string {
  switch (name ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return `torch.relu(${x})`;
    case 'sigmoid':
      return `torch.sigmoid(${x})`;
    case 'leakyrelu':
      return `F.leaky_relu(${x}, ${num(alpha)})`;
    case 'relu6':
      return `F.relu6(${x})`;
    case 'elu':
      return `F.elu(${x})`;
    default:
      throw new UserError(`cannot export the fused activation ${String(name)}`);
  }
}

const TORCH_DTYPE: Record<string, string> = { float32: 'torch.float32', int32: 'torch.int64', bool: 'torch.bool' };

const UNARY: Record<string, (x: string, a: Record<string, unknown>) => string> = {
  Identity: (x) => x,
  Sigmoid: (x) => `torch.sigmoid(${x})`,
  Tanh: (x) => `torch.tanh(${x})`,
  Relu: (x) => `torch.relu(${x})`,
  Relu6: (x) => `F.relu6(${x})`,
  Elu: (x) => `F.elu(${x})`,
  LeakyRelu: (x, a) => `F.leaky_relu(${x}, ${num(a.alpha)})`,
  Exp: (x) => `torch.exp(${x})`,
  Log: (x) => `torch.log(${x})`,
  Log1p: (x) => `torch.log1p(${x})`,
  Sqrt: (x) => `torch.sqrt(${x})`,
  Rsqrt: (x) => `torch.rsqrt(${x})`,
  Square: (x) => `torch.square(${x})`,
  Abs: (x) => `torch.abs(${x})`,
  Neg: (x) => `torch.neg(${x})`,
  Sin: (x) => `torch.sin(${x})`,
  Cos: (x) => `torch.cos(${x})`,
  Erf: (x) => `torch.erf(${x})`,
  Floor: (x) => `torch.floor(${x})`,
  Round: (x) => `torch.round(${x})`,
  Reciprocal: (x) => `torch.reciprocal(${x})`,
  Softplus: (x) => `F.softplus(${x})`,
  // tf.step: 1 where x > 0, alpha elsewhere (NaN stays NaN)
  Step: (x, a) => `step(${x}, ${num(a.alpha)})`,
  ZerosLike: (x) => `torch.zeros_like(${x})`,
  // deepgen's log|det W| (an LU decomposition in JS, export/trace.ts recordOp)
  LogAbsDet: (x) => `torch.linalg.slogdet(${x})[1]`,
  OnesLike: (x) => `torch.ones_like(${x})`,
  Cast: (x, a) => `${x}.to(${TORCH_DTYPE[a.dtype as string] ?? 'torch.float32'})`,
  ClipByValue: (x, a) => `torch.clamp(${x}, ${num(a.clipValueMin)}, ${num(a.clipValueMax)})`,
  Softmax: (x, a) => `torch.softmax(${x}, ${num(a.dim)})`,
  LogSoftmax: (x, a) => `torch.log_softmax(${x}, ${num(a.axis)})`,
  Reshape: (x, a) => `${x}.reshape(${num(a.shape)})`,
  Transpose: (x, a) => `${x}.permute(${num(a.perm)})`,
  Tile: (x, a) => `${x}.repeat(${num(a.reps)})`,
  ExpandDims: (x, a) => `${x}.unsqueeze(${num(a.dim)})`,
};

const BINARY: Record<string, (a: string, b: string) => string> = {
  Add: (a, b) => `(${a} + ${b})`,
  Sub: (a, b) => `(${a} - ${b})`,
  Multiply: (a, b) => `(${a} * ${b})`,
  RealDiv: (a, b) => `(${a} / ${b})`,
  Pow: (a, b) => `(${a} ** ${b})`,
  SquaredDifference: (a, b) => `torch.square(${a} - ${b})`,
  Maximum: (a, b) => `maximum(${a}, ${b})`,
  Minimum: (a, b) => `minimum(${a}, ${b})`,
  Greater: (a, b) => `(${a} > ${b})`,
  GreaterEqual: (a, b) => `(${a} >= ${b})`,
  Less: (a, b) => `(${a} < ${b})`,
  LessEqual: (a, b) => `(${a} <= ${b})`,
  Equal: (a, b) => `(${a} == ${b})`,
  FloorDiv: (a, b) => `torch.div(${a}, ${b}, rounding_mode='floor')`,
};

const REDUCE: Record<string, string> = { Mean: 'mean', Sum: 'sum', Max: 'amax', Min: 'amin', Prod: 'prod' };

/** The Python expression of one node (a tuple for several outputs); `arg(i, role)` gives input i. */
function emitNode(
  n: ProgramNode,
  arg: (i: number, role?: 'linear' | 'conv' | 'scalar') => string,
  native: (i: number, role: 'linear' | 'conv') => boolean,
): string {
  const a = n.attrs;
  const rankIn = n.inputShapes[0]?.length ?? 0;
  if (UNARY[n.kernel]) return UNARY[n.kernel](arg(0), a);
  if (BINARY[n.kernel]) return BINARY[n.kernel](arg(0, 'scalar'), arg(1, 'scalar'));
  if (REDUCE[n.kernel]) {
    const ax = axes(a.axis ?? a.reductionIndices, rankIn);
    const keep = a.keepDims ? 'True' : 'False';
    const f = REDUCE[n.kernel];
    if (ax === null || ax.length === rankIn)
      return a.keepDims
        ? `${arg(0)}.${f}(dim=${num(ax ?? [...Array(rankIn).keys()])}, keepdim=True)`
        : `${arg(0)}.${f}()`;
    return `${arg(0)}.${f}(dim=${num(ax)}, keepdim=${keep})`;
  }
  switch (n.kernel) {
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const tA = Boolean(a.transposeA),
        tB = Boolean(a.transposeB);
      const bias =
        n.kernel === '_FusedMatMul' && n.inputKeys.includes('bias') ? arg(n.inputKeys.indexOf('bias')) : null;
      let y: string;
      if (!tA && !tB && n.inputShapes[0].length === 2 && native(1, 'linear'))
        y = `F.linear(${arg(0)}, ${arg(1, 'linear')}${bias ? `, ${bias}` : ''})`;
      else {
        y = `torch.matmul(${arg(0)}${tA ? '.transpose(-1, -2)' : ''}, ${arg(1)}${tB ? '.transpose(-1, -2)' : ''})`;
        if (bias) y = `(${y} + ${bias})`;
      }
      return n.kernel === '_FusedMatMul' ? activation(a.activation, y, a.leakyreluAlpha) : y;
    }
    case 'Conv2D':
    case 'FusedConv2D': {
      if (a.dataFormat !== 'NHWC' && a.dataFormat !== undefined)
        throw new UserError(`cannot export ${n.kernel} in ${String(a.dataFormat)}`);
      const f = n.inputShapes[1];
      const pads = convPads(n, n.inputShapes[0], [f[0], f[1]]);
      const bias = n.inputKeys.includes('bias') ? arg(n.inputKeys.indexOf('bias')) : 'None';
      const w = native(1, 'conv') ? arg(1, 'conv') : `${arg(1)}.permute(3, 2, 0, 1)`;
      const y = `conv2d_nhwc(${arg(0)}, ${w}, ${bias}, ${num(a.strides)}, ${num(pads)}, ${num(a.dilations ?? 1)})`;
      return n.kernel === 'FusedConv2D' ? activation(a.activation, y, a.leakyreluAlpha) : y;
    }
    case 'Conv2DBackpropInput': {
      // tf.conv2dTranspose: the gradient of a 'same' conv of the output shape; crop PyTorch's full transposed conv
      const [, Ho, Wo] = a.inputShape as Sym[];
      const f = n.inputShapes[1],
        x = n.inputShapes[0];
      const s = typeof a.strides === 'number' ? [a.strides, a.strides] : (a.strides as number[]);
      const before = (size: number, k: number, st: number, inSize: number) =>
        a.pad === 'same' ? Math.floor(Math.max((inSize - 1) * st + k - size, 0) / 2) : 0;
      if (a.pad !== 'same' && a.pad !== 'valid')
        throw new UserError(`cannot export a transposed conv with pad ${String(a.pad)}`);
      const pt = before(Ho as number, f[0], s[0], x[1]),
        pl = before(Wo as number, f[1], s[1], x[2]);
      const w = native(1, 'conv') ? arg(1, 'conv') : `${arg(1)}.permute(3, 2, 0, 1)`;
      return `conv_transpose2d_nhwc(${arg(0)}, ${w}, ${num(s)}, ${num([Ho, Wo])}, ${num([pt, pl])})`;
    }
    case 'DeepgenGroupNorm':
      return `group_norm_nhwc(${arg(0)}, ${arg(1)}, ${arg(2)}, ${num(a.groups)}, ${num(a.epsilon)}, ${num(Boolean(a.silu))})`;
    case 'Concat':
      return `torch.cat([${n.inputs.map((_, i) => arg(i)).join(', ')}], ${num(axes(a.axis, rankIn)![0])})`;
    case 'Pack':
      return `torch.stack([${n.inputs.map((_, i) => arg(i)).join(', ')}], ${num(a.axis)})`;
    case 'AddN':
      return `(${n.inputs.map((_, i) => arg(i)).join(' + ')})`;
    case 'SplitV': {
      const ax = axes(a.axis, rankIn)![0];
      const sizes =
        typeof a.numOrSizeSplits === 'number'
          ? Array(a.numOrSizeSplits).fill(n.inputShapes[0][ax] / a.numOrSizeSplits)
          : (a.numOrSizeSplits as number[]);
      return `torch.split(${arg(0)}, ${num(sizes)}, ${ax})`;
    }
    case 'Unpack':
      return `torch.unbind(${arg(0)}, ${num(a.axis)})`;
    case 'Slice': {
      const begin = a.begin as Sym[],
        size = a.size as Sym[];
      const parts = begin.map((b, i) => {
        const sz = size[i];
        if (sz === -1) return `${num(b)}:`;
        if (b === 0 && sz === n.inputShapes[0][i]) return ':';
        return `${num(b)}:${isPerBatch(b) || isPerBatch(sz) ? `${num(b)} + ${num(sz)}` : (b as number) + (sz as number)}`;
      });
      return `${arg(0)}[${parts.join(', ')}]`;
    }
    case 'ResizeNearestNeighbor': {
      const [h, w] = a.size as number[];
      const [, H, W] = n.inputShapes[0];
      if (a.alignCorners || a.halfPixelCenters || h % H !== 0 || w % W !== 0)
        throw new UserError('cannot export a nearest-neighbour resize other than an integer upscaling');
      return `${arg(0)}.repeat_interleave(${h / H}, 1).repeat_interleave(${w / W}, 2)`;
    }
    case 'OneHot': {
      const oh = `F.one_hot(${arg(0)}.long(), ${num(a.depth)})`;
      const v =
        a.onValue === 1 && a.offValue === 0
          ? oh
          : `(${oh} * ${num((a.onValue as number) - (a.offValue as number))} + ${num(a.offValue)})`;
      return `${v}.to(${TORCH_DTYPE[a.dtype as string] ?? 'torch.int64'})`;
    }
    case 'Fill':
      return `torch.full(${num(a.shape)}, ${num(a.value)}, dtype=${TORCH_DTYPE[(a.dtype as string) ?? 'float32']}, device=device)`;
    case 'GatherV2': {
      if (n.inputShapes[1].length !== 1 || a.batchDims)
        throw new UserError('cannot export a gather with indices of rank > 1');
      return `torch.index_select(${arg(0)}, ${num(axes(a.axis, rankIn)![0])}, ${arg(1)}.long())`;
    }
    case 'Select':
      return `torch.where(${arg(0)}.bool(), ${arg(1)}, ${arg(2)})`;
    case 'PadV2':
      return `F.pad(${arg(0)}, ${num((a.paddings as number[][]).slice().reverse().flat())}, value=${num(a.constantValue)})`;
    case 'Reverse':
      return `torch.flip(${arg(0)}, ${num(axes(a.dims, rankIn))})`;
    default:
      throw new UserError(
        `cannot export the TF.js kernel ${n.kernel}: export/torch.ts has no PyTorch form for it yet (add one beside the others)`,
      );
  }
}

const pyName = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

/** The Python source of one network method. */
function emitMethod(p: Program, layouts: Map<string, ReturnType<typeof layoutOf>>): string[] {
  const lines: string[] = [];
  const args = p.inputs.map((i) => pyName(i.name));
  lines.push(`    def ${p.name}(self, ${args.join(', ')}):`);
  lines.push(`        """${p.doc}`);
  lines.push('');
  for (const i of p.inputs)
    lines.push(
      `        ${pyName(i.name)}: [${i.shape.map((d) => num(d)).join(', ')}] ${i.dtype === 'int32' ? 'int64' : i.dtype}`,
    );
  lines.push(
    `        Returns {${p.outputs.map((o) => `'${o.name}': [${o.shape.map((d) => num(d)).join(', ')}]`).join(', ')}}.`,
  );
  lines.push('        """');
  lines.push(`        B = ${args[0]}.shape[0]`);
  lines.push(`        device = ${args[0]}.device`);
  lines.push('        P = self.tensors()');
  const views = new Map<string, string>();
  const value = (r: Ref, role?: 'linear' | 'conv' | 'scalar'): string => {
    switch (r.kind) {
      case 'input':
        return pyName(r.name);
      case 'node':
        return `h${r.node}${p.nodes[r.node].outputs > 1 ? `[${r.output}]` : ''}`;
      case 'const': {
        const c = p.constants[r.index];
        if ('overBatch' in c) return `(${num(c.overBatch)} / B)`;
        if ('fill' in c)
          return `torch.full(${num(c.shape)}, ${num(c.fill)}, dtype=${TORCH_DTYPE[c.dtype]}, device=device)`;
        if (c.values.shape.length === 0)
          return role === 'scalar'
            ? num(c.values.values[0])
            : `torch.tensor(${num(c.values.values[0])}, dtype=${TORCH_DTYPE[c.values.dtype]}, device=device)`;
        return `self.const_${p.name}_${r.index}`;
      }
      case 'param': {
        const layout = layouts.get(r.name)!;
        const ref = `P['${r.name}']`;
        if (layout === 'same' || layout === role) return ref;
        // a weight used other than as its layer's weight (e.g. spectral norm) is read in deepgen's layout
        if (!views.has(r.name)) {
          const v = `w_${views.size}`;
          views.set(r.name, v);
          lines.push(
            `        ${v} = ${ref}${layout === 'linear' ? '.t()' : '.permute(2, 3, 1, 0)'}  # ${r.name} in TF.js layout`,
          );
        }
        return views.get(r.name)!;
      }
    }
  };
  p.nodes.forEach((n, i) => {
    const expr = emitNode(
      n,
      (k, role) => value(n.inputs[k], role),
      (k, role) => {
        const r = n.inputs[k];
        return r.kind === 'param' && layouts.get(r.name) === role;
      },
    );
    const detach = n.detached.some(Boolean) ? '.detach()' : '';
    lines.push(
      `        h${i} = ${expr}${detach}  # ${n.kernel} -> ${n.outputShapes.map((s) => `[${s.join(', ')}]`).join(', ')}`,
    );
  });
  lines.push(`        return {${p.outputs.map((o) => `'${o.name}': ${value(o.ref)}`).join(', ')}}`);
  return lines;
}

/** model.py for the programs, with the parameters (deepgen names and shapes) the Model holds. */
export function emitModelPy(programs: Program[], params: ParamInfo[], header: string): string {
  const layouts = new Map(params.map((q) => [q.name, layoutOf(q.name, q.shape)]));
  const tops = new Set(params.map((q) => q.name.split('.')[0]));
  for (const p of programs)
    if (tops.has(p.name) || ['forward', 'tensors', 'load', 'save'].includes(p.name))
      throw new Error(`export: network name '${p.name}' clashes with a parameter group or a Model method`);
  const paramLines = params.map((q) => {
    const l = layouts.get(q.name)!;
    return `    (${JSON.stringify(q.name)}, ${num(permuteShape(q.shape, toTorchPerm(l)))}, ${JSON.stringify(l)}, ${q.trainable ? 'True' : 'False'}),`;
  });
  const constLines = programs.flatMap((p) =>
    p.constants.flatMap((c, i) =>
      'values' in c && c.values.shape.length > 0 ? [`    '${`const_${p.name}_${i}`}',`] : [],
    ),
  );
  const methods = programs.flatMap((p) => ['', ...emitMethod(p, layouts)]);
  return [
    header,
    TORCH_PRELUDE,
    '# (deepgen name, PyTorch shape, layout, trainable): layout "linear" is deepgen\'s [in, out] transposed, "conv" its [k, k, in, out]',
    "# (or a transposed conv's [k, k, out, in]) permuted to PyTorch's [out, in, k, k] (or [in, out, k, k]).",
    'PARAMS = [',
    ...paramLines,
    ']',
    '# constants the networks use (masks, tables), in constants.safetensors',
    'CONSTANTS = [',
    ...constLines,
    ']',
    `NETWORKS = [${programs.map((p) => `'${p.name}'`).join(', ')}]`,
    '',
    '',
    'class Model(DeepgenModule):',
    '    """Every parameter under its deepgen name; one method per network (NHWC tensors, as in deepgen)."""',
    '',
    '    def __init__(self, folder=None):',
    '        super().__init__(PARAMS, CONSTANTS, folder)',
    '',
    '    def forward(self, net, *args, **kwargs):',
    '        """model(net, ...) runs the network `net` (one of NETWORKS), so DistributedDataParallel sees every call."""',
    '        return getattr(self, net)(*args, **kwargs)',
    ...methods,
    '',
  ].join('\n');
}
