// The trainer's per-epoch log, with nnU-Net's keys and semantics, and the two human-readable views of it:
// training_log.txt lines and the progress plot (hand-written SVG, same three panels as nnU-Net's progress.png).
// nnU-Net: training/logging/nnunet_logger.py (nnUNetLogger: EMA of mean_fg_dice 0.9·old + 0.1·new, first
// value taken as is; plot_progress_png), training/nnUNetTrainer/nnUNetTrainer.py (print_to_log_file,
// on_epoch_end messages).

export interface TrainingLogData {
  /** nanmean of the per-class pseudo Dice, per epoch */
  mean_fg_dice: number[];
  /** exponential moving average of mean_fg_dice */
  ema_fg_dice: number[];
  /** global pseudo Dice per foreground class, per epoch */
  dice_per_class_or_region: number[][];
  train_losses: number[];
  val_losses: number[];
  lrs: number[];
  /** seconds (clock time / 1000), as Python's time() */
  epoch_start_timestamps: number[];
  epoch_end_timestamps: number[];
  /** end − start per epoch, seconds */
  epoch_times_sec: number[];
}

export const LOG_KEYS = [
  'mean_fg_dice',
  'ema_fg_dice',
  'dice_per_class_or_region',
  'train_losses',
  'val_losses',
  'lrs',
  'epoch_start_timestamps',
  'epoch_end_timestamps',
  'epoch_times_sec',
] as const;

export function emptyLog(): TrainingLogData {
  return Object.fromEntries(LOG_KEYS.map((k) => [k, []])) as unknown as TrainingLogData;
}

/** nnUNetLogger.log('mean_fg_dice', v): also appends the EMA (0.9·previous EMA + 0.1·v, or v at the first epoch). */
export function nextEma(log: TrainingLogData, meanFgDice: number): number {
  const prev = log.ema_fg_dice[log.ema_fg_dice.length - 1];
  return prev === undefined ? meanFgDice : prev * 0.9 + 0.1 * meanFgDice;
}

/** Keeps the first `epochs` entries of every series (used when resuming: later entries belong to lost epochs). */
export function truncateLog(log: TrainingLogData, epochs: number): TrainingLogData {
  const out = emptyLog();
  for (const k of LOG_KEYS) (out[k] as unknown[]) = (log[k] as unknown[]).slice(0, epochs);
  return out;
}

/** Python-like round for messages (numpy rounds half to even; the difference never shows at 4 decimals here). */
export function round(v: number, decimals: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  const f = 10 ** decimals;
  return String(Math.round(v * f) / f);
}

/** 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) as nnU-Net's print_to_log_file prefixes every line (local time there). */
export function logTimestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds() * 1000, 6)}`
  );
}

// ---- progress plot -----------------------------------------------------------------------------------------

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** ~5 "nice" ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi - lo < 1e-12) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

interface Series {
  values: number[];
  color: string;
  dash?: string;
  label: string;
  /** right axis */
  right?: boolean;
}

function range(series: Series[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const v of s.values) if (Number.isFinite(v)) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
  if (lo === Infinity) return [0, 1];
  if (hi - lo < 1e-12) return [lo - (Math.abs(lo) * 0.1 || 0.5), hi + (Math.abs(hi) * 0.1 || 0.5)];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function panel(y0: number, w: number, h: number, epochs: number, series: Series[], yLabel: string, yLabelRight?: string): string {
  const L = 70, R = yLabelRight ? 70 : 20, T = 20, B = 40;
  const pw = w - L - R, ph = h - T - B;
  const xMax = Math.max(1, epochs - 1);
  const X = (e: number) => L + (pw * e) / xMax;
  const left = series.filter((s) => !s.right), right = series.filter((s) => s.right);
  const [l0, l1] = range(left), [r0, r1] = range(right);
  const Y = (v: number, r: boolean) => {
    const [a, b] = r ? [r0, r1] : [l0, l1];
    return T + ph - (ph * (v - a)) / (b - a);
  };
  const out: string[] = [`<g transform="translate(0,${y0})">`];
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  for (const t of niceTicks(0, xMax).filter((t) => Number.isInteger(t))) {
    const x = X(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${T + ph}" x2="${x}" y2="${T + ph + 4}" stroke="#444"/><text x="${x}" y="${T + ph + 16}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<text x="${L + pw / 2}" y="${T + ph + 34}" text-anchor="middle">epoch</text>`);
  for (const t of niceTicks(l0, l1)) {
    if (t < l0 || t > l1) continue;
    const y = Y(t, false).toFixed(1);
    out.push(`<line x1="${L - 4}" y1="${y}" x2="${L}" y2="${y}" stroke="#444"/><text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  out.push(`<text transform="translate(16,${T + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  if (yLabelRight) {
    for (const t of niceTicks(r0, r1)) {
      if (t < r0 || t > r1) continue;
      const y = Y(t, true).toFixed(1);
      out.push(`<line x1="${L + pw}" y1="${y}" x2="${L + pw + 4}" y2="${y}" stroke="#444"/><text x="${L + pw + 6}" y="${y}" dominant-baseline="middle">${fmt(t)}</text>`);
    }
    out.push(`<text transform="translate(${w - 14},${T + ph / 2}) rotate(90)" text-anchor="middle">${esc(yLabelRight)}</text>`);
  }
  for (const s of series) {
    // polyline per finite run (NaN breaks the line, as matplotlib does)
    let run: string[] = [];
    const flush = () => {
      if (run.length === 1) out.push(`<circle cx="${run[0].split(',')[0]}" cy="${run[0].split(',')[1]}" r="2" fill="${s.color}"/>`);
      else if (run.length > 1)
        out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${run.join(' ')}"/>`);
      run = [];
    };
    s.values.forEach((v, e) => {
      if (Number.isFinite(v)) run.push(`${X(e).toFixed(1)},${Y(v, Boolean(s.right)).toFixed(1)}`);
      else flush();
    });
    flush();
  }
  series.forEach((s, i) => {
    const lx = L + 10, ly = T + 14 + 16 * i;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>` +
        `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`,
    );
  });
  out.push('</g>');
  return out.join('\n');
}

/**
 * nnU-Net's progress plot as SVG: (1) train loss (blue), validation loss (red), pseudo Dice (green, dotted)
 * and its moving average (green) on a second axis; (2) epoch duration; (3) learning rate.
 */
export function progressSvg(log: TrainingLogData, title = 'training progress'): string {
  const epochs = Math.max(log.train_losses.length, log.lrs.length, 1);
  const w = 900, h = 300;
  const body = [
    panel(30, w, h, epochs, [
      { values: log.train_losses, color: '#1f4fd6', label: 'loss_tr' },
      { values: log.val_losses, color: '#d62728', label: 'loss_val' },
      { values: log.mean_fg_dice, color: '#2ca02c', dash: '2,3', label: 'pseudo dice', right: true },
      { values: log.ema_fg_dice, color: '#2ca02c', label: 'pseudo dice (mov. avg.)', right: true },
    ], 'loss', 'pseudo dice'),
    panel(30 + h, w, h, epochs, [{ values: log.epoch_times_sec, color: '#1f4fd6', label: 'epoch duration' }], 'time [s]'),
    panel(30 + 2 * h, w, h, epochs, [{ values: log.lrs, color: '#1f4fd6', label: 'learning rate' }], 'learning rate'),
  ];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${30 + 3 * h}" viewBox="0 0 ${w} ${30 + 3 * h}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>\n` +
    body.join('\n') +
    '\n</svg>\n'
  );
}
