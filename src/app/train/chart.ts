// The live training chart on a <canvas>: nnU-Net's progress plot (train loss, validation loss, pseudo Dice
// and its moving average on a second axis; epoch duration; learning rate), drawn from the trainer's log.
// No chart library: a small renderer over the CanvasRenderingContext2D subset below, so the geometry is
// testable in Node with a recording context.
// nnU-Net: training/logging/nnunet_logger.py (plot_progress_png: the same three panels and colours).
import { niceTicks, type TrainingLogData } from '../../training/trainer/log.ts';

export interface Ctx2D {
  canvas?: { width: number; height: number };
  fillStyle: string | CanvasGradient | CanvasPattern;
  strokeStyle: string | CanvasGradient | CanvasPattern;
  lineWidth: number;
  font: string;
  textAlign: CanvasTextAlign;
  textBaseline: CanvasTextBaseline;
  save(): void;
  restore(): void;
  beginPath(): void;
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  stroke(): void;
  arc(x: number, y: number, r: number, a0: number, a1: number): void;
  fill(): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  strokeRect(x: number, y: number, w: number, h: number): void;
  fillText(t: string, x: number, y: number): void;
  setLineDash(d: number[]): void;
  translate(x: number, y: number): void;
  rotate(a: number): void;
}

export interface ChartSeries {
  key: string;
  label: string;
  values: number[];
  color: string;
  dash?: number[];
  right?: boolean;
}

export interface PanelGeometry {
  x: number;
  y: number;
  w: number;
  h: number;
  /** data → pixel */
  X(epoch: number): number;
  Y(v: number, right?: boolean): number;
  left: [number, number];
  right: [number, number] | null;
  epochs: number;
}

export const CHART_COLORS = { train: '#4f8ff7', val: '#ef5350', dice: '#66bb6a', time: '#4f8ff7', lr: '#ffca28' };

/** The three panels' series, from a training log (the page's chart and its PNG show exactly these). */
export function chartSeries(log: TrainingLogData): { main: ChartSeries[]; time: ChartSeries[]; lr: ChartSeries[] } {
  return {
    main: [
      { key: 'train_losses', label: 'loss (train)', values: log.train_losses, color: CHART_COLORS.train },
      { key: 'val_losses', label: 'loss (val)', values: log.val_losses, color: CHART_COLORS.val },
      { key: 'mean_fg_dice', label: 'pseudo Dice', values: log.mean_fg_dice, color: CHART_COLORS.dice, dash: [2, 3], right: true },
      { key: 'ema_fg_dice', label: 'pseudo Dice (EMA)', values: log.ema_fg_dice, color: CHART_COLORS.dice, right: true },
    ],
    time: [{ key: 'epoch_times_sec', label: 'epoch time (s)', values: log.epoch_times_sec, color: CHART_COLORS.time }],
    lr: [{ key: 'lrs', label: 'learning rate', values: log.lrs, color: CHART_COLORS.lr }],
  };
}

/** Finite min/max of the series, padded by 5 % (a flat series gets ±10 % or ±0.5). */
export function valueRange(series: ChartSeries[], fixed?: [number, number]): [number, number] {
  if (fixed) return fixed;
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const v of s.values) if (Number.isFinite(v)) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
  if (lo === Infinity) return [0, 1];
  if (hi - lo < 1e-12) return [lo - (Math.abs(lo) * 0.1 || 0.5), hi + (Math.abs(hi) * 0.1 || 0.5)];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

const M = { l: 52, r: 48, t: 10, b: 26 };

/**
 * Pixel geometry of a panel at (x, y) of size w × h: epochs 0 … n−1 span the plot width (one epoch → the
 * middle), the left axis spans the left series' range, the right axis (Dice) 0 … 1 when present.
 */
export function panelGeometry(x: number, y: number, w: number, h: number, series: ChartSeries[], epochs: number, rightAxis: boolean): PanelGeometry {
  const px = x + M.l, py = y + M.t, pw = Math.max(10, w - M.l - (rightAxis ? M.r : 14)), ph = Math.max(10, h - M.t - M.b);
  const left = valueRange(series.filter((s) => !s.right));
  const right: [number, number] | null = rightAxis ? [0, 1] : null;
  const X = (e: number) => (epochs <= 1 ? px + pw / 2 : px + (pw * e) / (epochs - 1));
  const Y = (v: number, r = false) => {
    const [a, b] = r && right ? right : left;
    return py + ph - (ph * (v - a)) / (b - a);
  };
  return { x: px, y: py, w: pw, h: ph, X, Y, left, right, epochs };
}

export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

function drawPanel(ctx: Ctx2D, g: PanelGeometry, series: ChartSeries[], title: string, colors: { axis: string; text: string; grid: string }): void {
  ctx.save();
  ctx.strokeStyle = colors.axis;
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  ctx.strokeRect(g.x, g.y, g.w, g.h);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = colors.text;
  // x ticks: whole epochs
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const xt = niceTicks(0, Math.max(1, g.epochs - 1), 6).filter((t) => Number.isInteger(t) && t <= Math.max(0, g.epochs - 1));
  for (const t of xt) {
    const x = g.X(t);
    ctx.beginPath();
    ctx.moveTo(x, g.y + g.h);
    ctx.lineTo(x, g.y + g.h + 3);
    ctx.stroke();
    ctx.fillText(String(t), x, g.y + g.h + 5);
  }
  // y ticks and grid
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of niceTicks(g.left[0], g.left[1], 4)) {
    if (t < g.left[0] || t > g.left[1]) continue;
    const y = g.Y(t);
    ctx.strokeStyle = colors.grid;
    ctx.beginPath();
    ctx.moveTo(g.x, y);
    ctx.lineTo(g.x + g.w, y);
    ctx.stroke();
    ctx.fillText(formatTick(t), g.x - 5, y);
  }
  if (g.right) {
    ctx.textAlign = 'left';
    for (const t of [0, 0.25, 0.5, 0.75, 1]) ctx.fillText(String(t), g.x + g.w + 5, g.Y(t, true));
  }
  // title + legend
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(title, g.x + 6, g.y + 4);
  let lx = g.x + 6 + title.length * 6.2 + 14;
  // one series: the panel title names it
  for (const s of series.length > 1 ? series : []) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash ?? []);
    ctx.beginPath();
    ctx.moveTo(lx, g.y + 10);
    ctx.lineTo(lx + 18, g.y + 10);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = colors.text;
    ctx.fillText(s.label, lx + 22, g.y + 4);
    lx += 22 + s.label.length * 6.2 + 12;
  }
  // data: one polyline per finite run (NaN breaks the line), a dot for every point
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash ?? []);
    let open = false;
    ctx.beginPath();
    s.values.forEach((v, e) => {
      if (!Number.isFinite(v)) {
        open = false;
        return;
      }
      const x = g.X(e), y = g.Y(v, s.right);
      if (open) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      open = true;
    });
    ctx.stroke();
    ctx.setLineDash([]);
    s.values.forEach((v, e) => {
      if (!Number.isFinite(v)) return;
      ctx.beginPath();
      ctx.arc(g.X(e), g.Y(v, s.right), 2.5, 0, Math.PI * 2);
      ctx.fill();
    });
  }
  ctx.restore();
}

/**
 * Draws the whole chart into a w × h (CSS pixels) area: the loss / pseudo-Dice panel on top (60 %), epoch time
 * and learning rate side by side below. `scale` = devicePixelRatio (the canvas holds w·scale × h·scale pixels).
 */
export function drawProgressChart(ctx: Ctx2D, log: TrainingLogData, w: number, h: number, opts: { scale?: number; background?: string; title?: string } = {}): PanelGeometry[] {
  const s = chartSeries(log);
  const epochs = Math.max(log.train_losses.length, log.lrs.length, log.epoch_times_sec.length);
  const colors = { axis: '#5b6b78', text: '#c9d4dd', grid: 'rgba(120,140,155,0.18)' };
  ctx.save();
  if (opts.scale && opts.scale !== 1) (ctx as unknown as { scale(a: number, b: number): void }).scale(opts.scale, opts.scale);
  ctx.fillStyle = opts.background ?? '#0f151b';
  ctx.fillRect(0, 0, w, h);
  const topH = Math.round(h * 0.6);
  const main = panelGeometry(0, 0, w, topH, s.main, epochs, true);
  const time = panelGeometry(0, topH, w / 2, h - topH, s.time, epochs, false);
  const lr = panelGeometry(w / 2, topH, w / 2, h - topH, s.lr, epochs, false);
  drawPanel(ctx, main, s.main, opts.title ?? 'loss / pseudo Dice', colors);
  drawPanel(ctx, time, s.time, 'epoch time', colors);
  drawPanel(ctx, lr, s.lr, 'learning rate', colors);
  if (epochs === 0) {
    ctx.fillStyle = colors.text;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText('epochs appear here as they finish', main.x + main.w / 2, main.y + main.h / 2);
  }
  ctx.restore();
  return [main, time, lr];
}
