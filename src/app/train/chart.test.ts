// The live chart's geometry (hand-computed pixel positions) and what it draws (one dot per finite value,
// NaN leaves a gap), with a recording 2D context.
import { describe, expect, it } from 'vitest';
import { emptyLog, type TrainingLogData } from '../../training/trainer/log.ts';
import { chartSeries, drawProgressChart, formatTick, panelGeometry, valueRange, type Ctx2D } from './chart.ts';

function recorder() {
  const calls: { op: string; args: number[] }[] = [];
  const texts: string[] = [];
  const ctx = {
    fillStyle: '',
    strokeStyle: '',
    lineWidth: 1,
    font: '',
    textAlign: 'left',
    textBaseline: 'top',
    save() {},
    restore() {},
    beginPath() {},
    stroke() {},
    fill() {},
    setLineDash() {},
    translate() {},
    rotate() {},
    scale() {},
    moveTo: (x: number, y: number) => calls.push({ op: 'moveTo', args: [x, y] }),
    lineTo: (x: number, y: number) => calls.push({ op: 'lineTo', args: [x, y] }),
    arc: (x: number, y: number) => calls.push({ op: 'arc', args: [x, y] }),
    fillRect: () => {},
    strokeRect: () => {},
    fillText: (t: string) => texts.push(t),
  } as unknown as Ctx2D;
  return { ctx, calls, texts };
}

function log3(): TrainingLogData {
  return {
    ...emptyLog(),
    train_losses: [0.9, 0.5, 0.1],
    val_losses: [1.0, 0.6, 0.3],
    mean_fg_dice: [0.1, NaN, 0.5],
    ema_fg_dice: [0.1, 0.1, 0.14],
    dice_per_class_or_region: [[0.1], [NaN], [0.5]],
    lrs: [0.01, 0.007, 0.003],
    epoch_times_sec: [2, 1.5, 1.6],
  };
}

describe('progress chart', () => {
  it('value ranges pad by 5 %, flat series by 10 %, NaN ignored, empty → 0…1', () => {
    const s = (values: number[]) => [{ key: 'k', label: 'k', values, color: '#fff' }];
    const [a, b] = valueRange(s([1, 3, NaN]));
    expect(a).toBeCloseTo(0.9, 12);
    expect(b).toBeCloseTo(3.1, 12);
    const [c, d] = valueRange(s([2, 2]));
    expect(c).toBeCloseTo(1.8, 12);
    expect(d).toBeCloseTo(2.2, 12);
    expect(valueRange(s([]))).toEqual([0, 1]);
  });

  it('maps epochs across the plot width and values bottom-up; Dice on a 0…1 right axis', () => {
    const series = chartSeries(log3()).main;
    const g = panelGeometry(0, 0, 400, 200, series, 3, true);
    // margins: left 52, right 48, top 10, bottom 26 → plot 300 × 164 at (52, 10)
    expect([g.x, g.y, g.w, g.h]).toEqual([52, 10, 300, 164]);
    expect(g.X(0)).toBe(52);
    expect(g.X(2)).toBe(352);
    expect(g.X(1)).toBe(202);
    // left axis = losses 0.1 … 1.0 padded by 0.045
    expect(g.left[0]).toBeCloseTo(0.055, 12);
    expect(g.left[1]).toBeCloseTo(1.045, 12);
    expect(g.Y(g.left[0])).toBeCloseTo(174, 9);
    expect(g.Y(g.left[1])).toBeCloseTo(10, 9);
    expect(g.Y(0.5, true)).toBeCloseTo(92, 9);
    // a single epoch sits in the middle
    expect(panelGeometry(0, 0, 400, 200, series, 1, true).X(0)).toBe(202);
  });

  it('draws a dot per finite value in all three panels and a gap at NaN', () => {
    const { ctx, calls, texts } = recorder();
    const panels = drawProgressChart(ctx, log3(), 800, 300);
    expect(panels).toHaveLength(3);
    // train 3 + val 3 + pseudo Dice 2 (one NaN) + EMA 3 + epoch time 3 + lr 3
    expect(calls.filter((c) => c.op === 'arc')).toHaveLength(17);
    // the dotted pseudo-Dice line restarts after the NaN: its third point is a moveTo at epoch 2
    const [main] = panels;
    const x2 = main.X(2), y2 = main.Y(0.5, true);
    expect(calls.some((c) => c.op === 'moveTo' && Math.abs(c.args[0] - x2) < 1e-9 && Math.abs(c.args[1] - y2) < 1e-9)).toBe(true);
    expect(texts).toContain('pseudo Dice (EMA)');
    expect(texts).toContain('learning rate');
    expect(texts).toContain('epoch time');
  });

  it('an empty log draws the placeholder and no data', () => {
    const { ctx, calls, texts } = recorder();
    drawProgressChart(ctx, emptyLog(), 600, 300);
    expect(calls.filter((c) => c.op === 'arc')).toHaveLength(0);
    expect(texts).toContain('epochs appear here as they finish');
  });

  it('tick labels', () => {
    expect(formatTick(0.01)).toBe('0.01');
    expect(formatTick(0.0001)).toBe('1e-4');
    expect(formatTick(1.23456)).toBe('1.23');
  });
});
