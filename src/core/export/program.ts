// A network's kernel graph with a symbolic batch: the network traced at two batch sizes (2 and 3, different inputs),
// aligned node by node; an attribute that differs is k*B, a constant that differs is an error (it came from an input).
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import type { NetworkSpec } from '../family.ts';
import { traceKernels, type Trace, type TraceConstant } from './trace.ts';

/** A number that is k times the batch size B. */
export interface PerBatch {
  perBatch: number;
}
export type Sym = number | PerBatch;
export const isPerBatch = (v: unknown): v is PerBatch => typeof v === 'object' && v !== null && 'perBatch' in v;

/** Where a kernel input comes from. */
export type Ref =
  | { kind: 'input'; name: string }
  | { kind: 'param'; name: string }
  | { kind: 'const'; index: number }
  | { kind: 'node'; node: number; output: number };

export interface ProgramNode {
  kernel: string;
  inputKeys: string[];
  inputs: Ref[];
  attrs: Record<string, unknown>;
  outputs: number;
  /** Shapes (at B = 2) of the inputs and outputs, for the few kernels whose code needs them (conv padding). */
  inputShapes: number[][];
  outputShapes: number[][];
  detached: boolean[];
}

/** A constant: fixed values, or one value filling a shape that grows with the batch. */
export type ProgramConstant =
  | { values: TraceConstant }
  | { fill: number; shape: Sym[]; dtype: string }
  /** A scalar c / B (a mean over the batch written as a sum times 1 / n, e.g. batch norm's statistics). */
  | { overBatch: number };

export interface Program {
  name: string;
  doc: string;
  inputs: { name: string; shape: Sym[]; dtype: string }[];
  outputs: { name: string; ref: Ref; shape: Sym[] }[];
  nodes: ProgramNode[];
  constants: ProgramConstant[];
  /** Parameters the network reads, by deepgen name. */
  params: string[];
}

const TRACE_BATCHES = [2, 3] as const;

function refsOf(trace: Trace): (id: number) => Ref {
  const inputs = new Map(trace.inputs.map((i) => [i.id, i.name]));
  const produced = new Map<number, { node: number; output: number }>();
  trace.nodes.forEach((n, i) => n.outputs.forEach((id, k) => produced.set(id, { node: i, output: k })));
  const consts = new Map<number, number>();
  for (const id of [...trace.nodes.flatMap((n) => n.inputs), ...trace.outputs.map((o) => o.id)])
    if (trace.constants.has(id) && !consts.has(id)) consts.set(id, consts.size);
  return (id) => {
    if (inputs.has(id)) return { kind: 'input', name: inputs.get(id)! };
    if (trace.params.has(id)) return { kind: 'param', name: trace.params.get(id)! };
    if (produced.has(id)) return { kind: 'node', ...produced.get(id)! };
    if (consts.has(id)) return { kind: 'const', index: consts.get(id)! };
    throw new Error(`trace: tensor ${id} has no source`);
  };
}

/** The symbolic form of a value seen as a at B = 2 and b at B = 3. */
function symValue(a: unknown, b: unknown, where: () => string): unknown {
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return a.map((v, i) => symValue(v, b[i], where));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a),
      kb = Object.keys(b);
    if (ka.join() === kb.join())
      return Object.fromEntries(
        ka.map((k) => [k, symValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], where)]),
      );
  }
  if (typeof a === 'number' && typeof b === 'number') {
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return a;
    if (a % 2 === 0 && (a / 2) * 3 === b) return { perBatch: a / 2 };
  } else if (JSON.stringify(a) === JSON.stringify(b)) return a;
  throw new UserError(`cannot export ${where()}: it changes with the batch size in a way export cannot express`);
}

const symShape = (a: number[], b: number[], where: () => string): Sym[] => symValue(a, b, where) as Sym[];

function sameRef(a: Ref, b: Ref): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Traces `net` at two batch sizes on the current backend and aligns the graphs into one program. */
export function buildProgram(net: NetworkSpec, params: Record<string, tf.Variable>): Program {
  const traced = TRACE_BATCHES.map((B, k) => {
    const inputs = net.example(B, 1000 + k);
    try {
      const { trace, values } = traceKernels(net.run, inputs, params);
      tf.dispose(Object.values(values));
      return trace;
    } finally {
      tf.dispose(Object.values(inputs));
    }
  });
  const [t2, t3] = traced;
  const what = (s: string) => () => `network '${net.name}': ${s}`;
  if (t2.nodes.length !== t3.nodes.length || t2.nodes.some((n, i) => n.kernel !== t3.nodes[i].kernel))
    throw new UserError(`cannot export network '${net.name}': its kernels differ between batch sizes 2 and 3`);
  const ref2 = refsOf(t2),
    ref3 = refsOf(t3);
  const constants: ProgramConstant[] = [];
  const addConstant = (index: number, id2: number, id3: number, where: string) => {
    if (constants[index]) return;
    const c2 = t2.constants.get(id2)!,
      c3 = t3.constants.get(id3)!;
    const same =
      c2.shape.join() === c3.shape.join() &&
      c2.values.length === c3.values.length &&
      c2.values.every((v, j) => v === c3.values[j]);
    if (same) {
      constants[index] = { values: c2 };
      return;
    }
    if (c2.values.length === 1 && c3.values.length === 1 && c2.shape.length === 0 && c3.shape.length === 0) {
      const c = c2.values[0] * 2;
      if (Math.abs(c / 3 - c3.values[0]) <= 1e-6 * Math.abs(c / 3)) {
        constants[index] = { overBatch: c };
        return;
      }
    }
    const uniform = (c: TraceConstant) => c.values.every((v) => v === c.values[0]);
    if (!(uniform(c2) && uniform(c3) && c2.values[0] === c3.values[0] && c2.shape.length === c3.shape.length))
      throw new UserError(
        `cannot export network '${net.name}': a tensor made outside TF.js kernels (${where}) depends on the inputs; make it from the inputs with TF.js ops`,
      );
    constants[index] = {
      fill: c2.values[0],
      shape: symShape(c2.shape, c3.shape, what(`a constant's shape`)),
      dtype: c2.dtype,
    };
  };
  const nodes: ProgramNode[] = t2.nodes.map((n2, i) => {
    const n3 = t3.nodes[i];
    const inputs = n2.inputs.map((id, k) => {
      const r = ref2(id);
      if (!sameRef(r, ref3(n3.inputs[k])))
        throw new UserError(
          `cannot export network '${net.name}': node ${i} (${n2.kernel}) is wired differently at B = 3`,
        );
      if (r.kind === 'const') addConstant(r.index, id, n3.inputs[k], `input of ${n2.kernel}, node ${i}`);
      return r;
    });
    const attrs = symValue(n2.attrs, n3.attrs, what(`the attributes of ${n2.kernel} (node ${i})`)) as Record<
      string,
      unknown
    >;
    return {
      kernel: n2.kernel,
      inputKeys: n2.inputKeys,
      inputs,
      attrs,
      outputs: n2.outputs.length,
      inputShapes: n2.inputs.map((id) => t2.tensors.get(id)!.shape),
      outputShapes: n2.outputs.map((id) => t2.tensors.get(id)!.shape),
      detached: n2.outputs.map((id) => t2.detached.has(id)),
    };
  });
  const shapeAt = (t: Trace, id: number) => t.tensors.get(id)!.shape;
  const outputRef = (id2: number, id3: number, name: string): Ref => {
    const r = ref2(id2);
    if (r.kind === 'const') addConstant(r.index, id2, id3, `output ${name}`);
    return r;
  };
  return {
    name: net.name,
    doc: net.doc,
    inputs: t2.inputs.map((inp, k) => ({
      name: inp.name,
      shape: symShape(shapeAt(t2, inp.id), shapeAt(t3, t3.inputs[k].id), what(`input ${inp.name}`)),
      dtype: t2.tensors.get(inp.id)!.dtype,
    })),
    outputs: t2.outputs.map((o, k) => ({
      name: o.name,
      ref: outputRef(o.id, t3.outputs[k].id, o.name),
      shape: symShape(shapeAt(t2, o.id), shapeAt(t3, t3.outputs[k].id), what(`output ${o.name}`)),
    })),
    nodes,
    constants,
    params: [...new Set(t2.params.values())].sort(),
  };
}
