// Records the TF.js kernels one forward pass runs: the architecture as deepgen actually computes it, from which
// export/torch.ts writes PyTorch code. Inputs, parameters and constants are told apart by tensor id.
import * as tf from '@tensorflow/tfjs-core';

/** One kernel call: its name, input tensor ids (in the kernel's input order), attributes and output ids. */
export interface TraceNode {
  kernel: string;
  inputKeys: string[];
  inputs: number[];
  attrs: Record<string, unknown>;
  outputs: number[];
}

export interface TraceConstant {
  shape: number[];
  dtype: string;
  values: Float32Array | Int32Array;
}

export interface Trace {
  nodes: TraceNode[];
  /** The network's inputs and outputs, by name. */
  inputs: { name: string; id: number }[];
  outputs: { name: string; id: number }[];
  /** Parameter (and buffer) tensor ids and their deepgen names. */
  params: Map<number, string>;
  /** Tensors made outside any kernel (from JS values), read at trace time. */
  constants: Map<number, TraceConstant>;
  /** Shape and dtype of every tensor the trace saw. */
  tensors: Map<number, { shape: number[]; dtype: string }>;
  /** Outputs through which no gradient flows (stopGradient). */
  detached: Set<number>;
}

let active: {
  detached: Set<number>;
  op: (kernel: string, inputs: tf.Tensor[], output: tf.Tensor, attrs?: Record<string, unknown>) => void;
  /** > 0 inside traceAs: kernels are not recorded one by one. */
  quiet: number;
} | null = null;

/** Tells a running trace that t is a stop-gradient copy (PyTorch's .detach()); a no-op otherwise. */
export function markDetached(t: tf.Tensor): void {
  active?.detached.add(t.id);
}

/** Records `output = kernel(inputs)` for an op deepgen computes in JS (e.g. 'LogAbsDet' by an LU decomposition), which
 *  the trace would otherwise see as a constant; export/torch.ts must know `kernel`. A no-op when no trace runs. */
export function recordOp(
  kernel: string,
  inputs: tf.Tensor[],
  output: tf.Tensor,
  attrs?: Record<string, unknown>,
): void {
  active?.op(kernel, inputs, output, attrs);
}

/** Runs `fn` (made of TF.js ops) and, in a trace, records it as the one op `kernel` with `attrs` instead of its kernels,
 *  for an op PyTorch has whole (e.g. group norm); export/torch.ts must know `kernel`. */
export function traceAs<T extends tf.Tensor>(
  kernel: string,
  inputs: tf.Tensor[],
  attrs: Record<string, unknown>,
  fn: () => T,
): T {
  if (!active) return fn();
  const a = active;
  a.quiet++;
  let out: T;
  try {
    out = fn();
  } finally {
    a.quiet--;
  }
  a.op(kernel, inputs, out, attrs);
  return out;
}

type Engine = { runKernel: (name: string, inputs: Record<string, unknown>, attrs: Record<string, unknown>) => unknown };

/**
 * Runs `fn` on `inputs` and records every top-level kernel it calls (kernels a kernel calls are not recorded).
 * Tensors `fn` returns are kept until the caller disposes the trace's outputs; the returned values are the outputs.
 */
export function traceKernels(
  fn: (inputs: Record<string, tf.Tensor>) => Record<string, tf.Tensor>,
  inputs: Record<string, tf.Tensor>,
  params: Record<string, tf.Variable>,
): { trace: Trace; values: Record<string, tf.Tensor> } {
  const engine = tf.engine() as unknown as Engine;
  const original = engine.runKernel;
  const nodes: TraceNode[] = [];
  const seen = new Map<number, tf.Tensor>();
  const constants = new Map<number, TraceConstant>();
  const made = new Set<number>();
  const given = new Set(Object.values(inputs).map((t) => t.id));
  const paramIds = new Set(Object.values(params).map((t) => t.id));
  const readConstant = (t: tf.Tensor) => {
    if (constants.has(t.id)) return;
    const v = t.dataSync();
    constants.set(t.id, {
      shape: t.shape.slice(),
      dtype: t.dtype,
      values: t.dtype === 'float32' ? Float32Array.from(v) : Int32Array.from(v),
    });
  };
  let depth = 0;
  engine.runKernel = function (this: Engine, name, kin, attrs) {
    if (depth > 0 || (active?.quiet ?? 0) > 0) return original.call(this, name, kin, attrs);
    depth++;
    try {
      const out = original.call(this, name, kin, attrs) as tf.Tensor | tf.Tensor[];
      const keys = Object.keys(kin).filter((k) => kin[k] != null);
      const ins = keys.map((k) => kin[k] as tf.Tensor);
      // a tensor made from JS values (not by a kernel, not an input or parameter): read it now, inner tidies free it
      for (const t of ins) if (!(made.has(t.id) || given.has(t.id) || paramIds.has(t.id))) readConstant(t);
      const outs = Array.isArray(out) ? out : [out];
      for (const t of [...ins, ...outs]) if (!seen.has(t.id)) seen.set(t.id, t);
      for (const t of outs) made.add(t.id);
      nodes.push({
        kernel: name,
        inputKeys: keys,
        inputs: ins.map((t) => t.id),
        attrs: { ...(attrs ?? {}) },
        outputs: outs.map((t) => t.id),
      });
      return out;
    } finally {
      depth--;
    }
  };
  const detached = new Set<number>();
  const op = (kernel: string, ins: tf.Tensor[], output: tf.Tensor, attrs: Record<string, unknown> = {}) => {
    for (const t of ins) if (!(made.has(t.id) || given.has(t.id) || paramIds.has(t.id))) readConstant(t);
    for (const t of [...ins, output]) if (!seen.has(t.id)) seen.set(t.id, t);
    made.add(output.id);
    nodes.push({
      kernel,
      inputKeys: ins.map((_, i) => String(i)),
      inputs: ins.map((t) => t.id),
      attrs,
      outputs: [output.id],
    });
  };
  active = { detached, op, quiet: 0 };
  let values: Record<string, tf.Tensor>;
  try {
    values = tf.tidy(() => fn(inputs));
    for (const t of Object.values(values))
      if (!(made.has(t.id) || given.has(t.id) || paramIds.has(t.id))) readConstant(t);
  } finally {
    engine.runKernel = original;
    active = null;
  }
  const tensors = new Map<number, { shape: number[]; dtype: string }>();
  for (const [id, t] of seen) tensors.set(id, { shape: t.shape.slice(), dtype: t.dtype });
  for (const t of [...Object.values(inputs), ...Object.values(values)])
    tensors.set(t.id, { shape: t.shape.slice(), dtype: t.dtype });
  const byId = new Map(Object.entries(params).map(([name, v]) => [v.id, name]));
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const paramsUsed = new Map([...byId].filter(([id]) => used.has(id)));
  return {
    trace: {
      nodes,
      inputs: Object.entries(inputs).map(([name, t]) => ({ name, id: t.id })),
      outputs: Object.entries(values).map(([name, t]) => ({ name, id: t.id })),
      params: paramsUsed,
      constants,
      tensors,
      detached,
    },
    values,
  };
}
