// Categorical distributions over a row of plain logits (the autoregressive samplers' per-pixel predictions, read
// back from the backend): softmax as probabilities for display.

/** softmax(l) over l[from .. from + K) as float32: p_k = exp(l_k - max l) / sum_j exp(l_j - max l) (sums to 1 up to rounding). */
export function softmaxAt(l: ArrayLike<number>, from: number, K: number): Float32Array {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, l[from + k]);
  let total = 0;
  for (let k = 0; k < K; k++) total += Math.exp(l[from + k] - m);
  const p = new Float32Array(K);
  for (let k = 0; k < K; k++) p[k] = Math.exp(l[from + k] - m) / total;
  return p;
}
