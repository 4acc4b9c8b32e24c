// Step-wise sampling loops written once, as generators, and run either synchronously (CLI; cpu, wasm and native read
// tensors back at once) or asynchronously (WebGPU reads results back only asynchronously, and a live page must get a
// turn of the event loop between steps to show them).
import type * as tf from '@tensorflow/tfjs-core';

/** What a loop yields: a tensor whose values it needs next (it gets them back from yield, and disposes the tensor
 *  itself), or null: a pause between steps where an asynchronous runner lets other work (a live view) run. */
export type Read = tf.Tensor | null;
export type Values = Float32Array | Int32Array | Uint8Array;
export type Steps<T> = Generator<Read, T, Values | undefined>;

/** Runs a loop to its end, reading tensors synchronously (dataSync). */
export function runSync<T>(g: Steps<T>): T {
  let r = g.next(undefined);
  while (!r.done) {
    let input: Values | undefined;
    try {
      input = r.value ? (r.value.dataSync() as Values) : undefined;
    } catch (e) {
      g.throw(e); // runs the loop's finally blocks (disposals), then rethrows
      throw e;
    }
    r = g.next(input);
  }
  return r.value;
}

/** Resolves on the next turn of the event loop (after pending messages and GPU callbacks). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Runs a loop to its end, reading tensors asynchronously (data()) and awaiting `pause` at every null step. */
export async function runAsync<T>(g: Steps<T>, pause: () => Promise<void> = nextTurn): Promise<T> {
  let r = g.next(undefined);
  while (!r.done) {
    let input: Values | undefined;
    try {
      if (r.value) input = (await r.value.data()) as Values;
      else await pause();
    } catch (e) {
      g.throw(e);
      throw e;
    }
    r = g.next(input);
  }
  return r.value;
}
