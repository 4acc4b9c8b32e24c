// Unit conversions for likelihoods: nats per image <-> bits per dimension.

/** bits/dim = nats / (D * ln 2), D = H * W * C. */
export function natsToBitsPerDim(natsPerImage: number, dims: number): number {
  return natsPerImage / (dims * Math.LN2);
}

/** nats per image = bits/dim * D * ln 2, the inverse of natsToBitsPerDim. */
export function bitsPerDimToNats(bpd: number, dims: number): number {
  return bpd * dims * Math.LN2;
}
