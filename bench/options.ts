// Options of `npm run bench` that the bench model files read (set by bench/run.ts before any figure runs).
export const benchOptions = {
  /** --short: sampling figures time one step and extrapolate (a software GPU such as SwiftShader, or a smoke run). */
  short: false,
};
