// Loss curves as a self-contained SVG line chart (axes, numbered ticks, grid, legend), platform-free.
// Non-finite points (and non-positive ones on a log axis) are skipped; long series are decimated per pixel.

export interface Series {
  name: string;
  /** [x, y] pairs, e.g. [step, loss]. */
  points: [number, number][];
}

export interface LossCurveOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Total size in px; default 640 x 400. */
  width?: number;
  height?: number;
  logY?: boolean;
  /**
   * Trailing moving-average window in points (1 = off, the default). When > 1 the smoothed line is
   * drawn solid over a faint raw line.
   */
  smooth?: number;
}

const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const FONT = 'font-family="sans-serif" font-size="12"';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/** Fixed two-decimal coordinates keep the file small and identical across runs. */
function num(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

/** 1, 2 or 5 times a power of ten, closest above range / count. */
function niceStep(range: number, count: number): number {
  const raw = range / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function linearTicks(lo: number, hi: number, count: number): { ticks: number[]; step: number } {
  const step = niceStep(hi - lo, count);
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(k * step);
  return { ticks, step };
}

/** Tick label: decimals enough to tell neighbours apart, exponent form for very large/small values. */
function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) {
    const digits = Math.max(0, Math.min(3, Math.floor(Math.log10(a)) - Math.floor(Math.log10(step))));
    return v
      .toExponential(digits)
      .replace(/\.?0+e/, 'e')
      .replace('e+', 'e');
  }
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

/** Trailing moving average over a window of `w` points. */
function movingAverage(pts: [number, number][], w: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < pts.length; i++) {
    sum += pts[i][1];
    if (i >= w) sum -= pts[i - w][1];
    out.push([pts[i][0], sum / Math.min(i + 1, w)]);
  }
  return out;
}

/** Keeps first, min, max and last point of each pixel column (screen coordinates), so shape is kept. */
function decimate(pts: [number, number][]): [number, number][] {
  if (pts.length < 2000) return pts;
  const out: [number, number][] = [];
  let i = 0;
  while (i < pts.length) {
    const col = Math.floor(pts[i][0]);
    let j = i;
    let lo = i;
    let hi = i;
    while (j < pts.length && Math.floor(pts[j][0]) === col) {
      if (pts[j][1] < pts[lo][1]) lo = j;
      if (pts[j][1] > pts[hi][1]) hi = j;
      j++;
    }
    const keep = [...new Set([i, Math.min(lo, hi), Math.max(lo, hi), j - 1])];
    for (const k of keep) out.push(pts[k]);
    i = j;
  }
  return out;
}

export function lossCurveSvg(series: Series[], opts: LossCurveOptions = {}): string {
  const W = Math.max(200, opts.width ?? 640);
  const H = Math.max(150, opts.height ?? 400);
  const logY = opts.logY ?? false;
  const smooth = Math.max(1, Math.floor(opts.smooth ?? 1));
  const m = { left: 72, right: 20, top: opts.title ? 36 : 16, bottom: opts.xLabel ? 52 : 36 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;

  const clean = series.map((s) => {
    const pts = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0))
      .sort((a, b) => a[0] - b[0]);
    return { name: s.name, raw: pts, line: smooth > 1 ? movingAverage(pts, smooth) : pts };
  });

  // Loops, not Math.min(...xs): spreading a long series overflows the call stack.
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  let count = 0;
  for (const s of clean) {
    for (const [x, yv] of s.raw) {
      const y = logY ? Math.log10(yv) : yv;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      count++;
    }
  }
  if (count === 0) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 - x0 < 1e-12 * Math.max(1, Math.abs(x0))) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 - y0 < 1e-12 * Math.max(1, Math.abs(y0)))
    [y0, y1] = [
      y0 - (logY ? 0.5 : Math.max(1, Math.abs(y0) * 0.1)),
      y1 + (logY ? 0.5 : Math.max(1, Math.abs(y1) * 0.1)),
    ];
  else {
    const padY = (y1 - y0) * 0.05;
    [y0, y1] = [y0 - padY, y1 + padY];
  }

  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const syv = (v: number) => m.top + ph - ((v - y0) / (y1 - y0)) * ph;
  const sy = (y: number) => syv(logY ? Math.log10(y) : y);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  if (opts.title)
    out.push(
      `<text x="${num(W / 2)}" y="22" text-anchor="middle" font-family="sans-serif" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
    );

  // Grid and tick labels.
  const xt = linearTicks(x0, x1, Math.max(2, Math.floor(pw / 90)));
  for (const t of xt.ticks) {
    const x = num(sx(t));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="#333"/>`);
    out.push(
      `<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" ${FONT}>${esc(formatTick(t, xt.step))}</text>`,
    );
  }
  for (const { v, label } of yTicks(y0, y1, logY, Math.max(2, Math.floor(ph / 50)))) {
    const y = num(syv(v));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" dy="4" text-anchor="end" ${FONT}>${esc(label)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  if (opts.xLabel)
    out.push(`<text x="${num(m.left + pw / 2)}" y="${H - 10}" text-anchor="middle" ${FONT}>${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) {
    const cy = num(m.top + ph / 2);
    out.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})" ${FONT}>${esc(opts.yLabel)}</text>`,
    );
  }
  if (count === 0) {
    out.push(
      `<text x="${num(m.left + pw / 2)}" y="${num(m.top + ph / 2)}" text-anchor="middle" fill="#888" ${FONT}>no finite data</text>`,
    );
  }

  // Lines, clipped to the plot area.
  out.push(`<clipPath id="deepgen-plot"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  out.push(
    '<g clip-path="url(#deepgen-plot)" fill="none" stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round">',
  );
  clean.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const toPath = (pts: [number, number][]) => {
      const screen = decimate(pts.map(([x, y]) => [sx(x), sy(y)] as [number, number]));
      // A lone point is a zero-length segment; the round cap draws it as a dot.
      const segs = screen.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${num(x)} ${num(y)}`);
      return screen.length === 1 ? `${segs[0]}h0` : segs.join('');
    };
    if (s.raw.length === 0) return;
    if (smooth > 1) out.push(`<path d="${toPath(s.raw)}" stroke="${color}" stroke-opacity="0.25"/>`);
    const width = s.line.length === 1 ? ' stroke-width="5"' : '';
    out.push(`<path d="${toPath(s.line)}" stroke="${color}"${width}><title>${esc(s.name)}</title></path>`);
  });
  out.push('</g>');

  // Legend, top right inside the plot.
  if (clean.length > 0) {
    const labels = clean.map((s) => (s.raw.length ? s.name : `${s.name} (no finite points)`));
    const lw = 34 + Math.max(...labels.map((l) => l.length)) * 7;
    const lh = 8 + labels.length * 18;
    const lx = m.left + pw - lw - 8;
    const ly = m.top + 8;
    out.push(
      `<rect x="${num(lx)}" y="${ly}" width="${num(lw)}" height="${lh}" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    labels.forEach((label, i) => {
      const y = ly + 14 + i * 18;
      const color = COLORS[i % COLORS.length];
      out.push(
        `<line x1="${num(lx + 8)}" y1="${y - 4}" x2="${num(lx + 26)}" y2="${y - 4}" stroke="${color}" stroke-width="2.5"/>`,
      );
      out.push(`<text x="${num(lx + 30)}" y="${y}" ${FONT}>${esc(label)}</text>`);
    });
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Y ticks in axis units (log10 of the value when logY). */
function yTicks(y0: number, y1: number, logY: boolean, count: number): { v: number; label: string }[] {
  if (!logY)
    return linearTicks(y0, y1, count).ticks.map((t) => ({ v: t, label: formatTick(t, niceStep(y1 - y0, count)) }));
  // Decades, then 1-2-5 within decades when the range spans too few of them.
  for (const mult of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const out: { v: number; label: string }[] = [];
    for (let e = Math.floor(y0); e <= Math.ceil(y1); e++) {
      for (const k of mult) {
        const v = Math.log10(k) + e;
        if (v >= y0 - 1e-9 && v <= y1 + 1e-9) out.push({ v, label: formatLog(k * 10 ** e) });
      }
    }
    if (out.length >= 2)
      return out.length > count * 2 ? out.filter((_, i) => i % Math.ceil(out.length / count) === 0) : out;
  }
  // Less than a factor of ~1.1 in range: plain ticks on the values, placed on the log axis.
  const lo = 10 ** y0;
  const hi = 10 ** y1;
  const { ticks, step } = linearTicks(lo, hi, count);
  return ticks.filter((t) => t > 0).map((t) => ({ v: Math.log10(t), label: formatTick(t, step) }));
}

function formatLog(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return Number(v.toPrecision(6)).toString();
}
