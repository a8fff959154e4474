import { useEffect, useRef, type ReactNode } from 'react';
import { Panel } from '../../components/Panel.tsx';
import { useApp } from '../../store.ts';
import { drawProgressChart } from '../chart.ts';
import { deleteRun, exportRunBundle, pauseRun, resumePaused, resumeRun, saveBytes, selectRun, stopRun } from '../trainEngine.ts';
import { ACTIVE_STATUSES, type RunRecord } from '../types.ts';
import type { TrainingLogData } from '../../../training/trainer/log.ts';

export function ProgressChart(props: { log: TrainingLogData; name: string }): ReactNode {
  const ref = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const draw = () => {
      const c = ref.current;
      const w = wrap.current;
      if (!c || !w) return;
      const width = Math.max(300, w.clientWidth);
      const height = 300;
      const dpr = globalThis.devicePixelRatio || 1;
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
      c.style.width = `${width}px`;
      c.style.height = `${height}px`;
      const ctx = c.getContext('2d');
      if (ctx) drawProgressChart(ctx, props.log, width, height, { scale: dpr });
    };
    draw();
    const ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(draw) : null;
    if (ro && wrap.current) ro.observe(wrap.current);
    return () => ro?.disconnect();
  }, [props.log]);
  const exportPng = () => {
    ref.current?.toBlob((b) => {
      if (b) saveBytes(b, `${props.name}_progress.png`, 'image/png');
    }, 'image/png');
  };
  const epochs = props.log.train_losses.length;
  return (
    <div ref={wrap} className="chart-wrap">
      <canvas
        ref={ref}
        data-testid="train-chart"
        data-epochs={epochs}
        role="img"
        aria-label={`Training progress: ${epochs} epoch${epochs === 1 ? '' : 's'}${epochs ? `, last train loss ${props.log.train_losses[epochs - 1]?.toFixed(3)}, EMA pseudo Dice ${props.log.ema_fg_dice[epochs - 1]?.toFixed(3)}` : ''}`}
      />
      <div className="btn-row chart-actions">
        <button type="button" className="btn btn-small" data-testid="train-export-png" onClick={exportPng} disabled={epochs === 0}>
          Export PNG
        </button>
      </div>
    </div>
  );
}

const ACTIVE: readonly string[] = ACTIVE_STATUSES;

/** Time left from the median epoch time so far (the first epoch includes warm-up, so the median not the mean). */
function eta(r: RunRecord): string {
  const t = [...r.log.epoch_times_sec].filter(Number.isFinite).sort((a, b) => a - b);
  const left = r.options.numEpochs - r.epoch;
  if (t.length === 0 || left <= 0) return '';
  const sec = t[Math.floor((t.length - 1) / 2)] * left;
  return sec < 90 ? `≈ ${Math.round(sec)} s left` : sec < 5400 ? `≈ ${Math.round(sec / 60)} min left` : `≈ ${(sec / 3600).toFixed(1)} h left`;
}

function RunActions(props: { run: RunRecord; anyActive: boolean }): ReactNode {
  const r = props.run;
  return (
    <div className="btn-row">
      {r.status === 'running' ? (
        <button type="button" className="btn btn-small" data-testid="run-pause" onClick={() => void pauseRun()}>
          Pause
        </button>
      ) : null}
      {r.status === 'paused' ? (
        <button type="button" className="btn btn-small" data-testid="run-continue" onClick={() => void resumePaused()}>
          Continue
        </button>
      ) : null}
      {r.status === 'running' || r.status === 'paused' || r.status === 'validating' ? (
        <button type="button" className="btn btn-small" data-testid="run-stop" onClick={() => void stopRun()}>
          Stop
        </button>
      ) : null}
      {(r.status === 'stopped' || r.status === 'interrupted' || r.status === 'failed' || r.status === 'queued') && !props.anyActive ? (
        <button type="button" className="btn btn-small btn-accent" data-testid="run-resume" onClick={() => void resumeRun(r.runId)}>
          Resume
        </button>
      ) : null}
      {(r.status === 'finished' || r.status === 'stopped' || r.status === 'interrupted') && r.epoch > 0 && !props.anyActive ? (
        <button type="button" className="btn btn-small" data-testid="run-export" title="Download this run's model bundle (.zip) from its newest checkpoint" onClick={() => void exportRunBundle(r.runId)}>
          ⤓
        </button>
      ) : null}
      {!ACTIVE.includes(r.status) ? (
        <button type="button" className="btn btn-small" title="Delete this run and its checkpoints" onClick={() => void deleteRun(r.runId)}>
          ✕
        </button>
      ) : null}
    </div>
  );
}

export function TrainingSection(): ReactNode {
  const runs = useApp((s) => s.train.runs);
  const activeId = useApp((s) => s.train.activeRunId);
  const live = useApp((s) => s.train.live);
  if (runs.length === 0) return null;
  const active = runs.find((r) => r.runId === activeId) ?? runs[runs.length - 1];
  const anyActive = runs.some((r) => ACTIVE.includes(r.status));
  const livePct = live && live.of > 0 ? (100 * live.iteration) / live.of : 0;
  return (
    <Panel title="Training" testId="train-runs">
      <table className="data-table small" data-testid="train-runs-table">
        <thead>
          <tr>
            <th>run</th>
            <th>status</th>
            <th>epoch</th>
            <th>best EMA Dice</th>
            <th>backend</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.runId} className={r.runId === active.runId ? 'row-selected' : ''} onClick={() => selectRun(r.runId)} data-testid="train-run-row" data-status={r.status}>
              <td>
                <button type="button" className="btn-link" onClick={() => selectRun(r.runId)}>
                  {r.configuration} · fold {r.fold}
                </button>
              </td>
              <td>
                <span className={`status-${r.status}`} data-testid="train-run-status">
                  {r.status}
                </span>
              </td>
              <td>
                {r.epoch} / {r.options.numEpochs}
              </td>
              <td>{r.bestEma === null ? '–' : r.bestEma.toFixed(3)}</td>
              <td className="ellipsis" title={r.backendReason ?? ''}>
                {r.backend ?? r.backendChoice}
              </td>
              <td>
                <RunActions run={r} anyActive={anyActive} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {active.error ? <div className="err-line">{active.error}</div> : null}
      {active.status === 'interrupted' ? (
        <div className="info-line" data-testid="train-interrupted">
          This run was interrupted (page closed or reloaded) at epoch {active.epoch}. Resume continues from its last checkpoint in browser storage.
        </div>
      ) : null}
      {ACTIVE.includes(active.status) && live && live.phase !== 'preprocess' ? (
        <div className="progress-block" data-testid="train-epoch-progress">
          <div className="progress-bar" role="progressbar" aria-valuenow={Math.round(livePct)} aria-valuemin={0} aria-valuemax={100} aria-label="epoch progress">
            <div className="progress-fill" style={{ width: `${livePct}%` }} />
          </div>
          <div className="progress-text">
            <span>
              {live.phase === 'validation'
                ? `validation of fold ${active.fold}: case ${live.iteration} / ${live.of}`
                : `epoch ${active.epoch} · ${live.phase === 'train' ? 'training' : 'validation'} iteration ${live.iteration} / ${live.of}`}
            </span>
            <span>
              {live.loss !== null ? `loss ${live.loss.toFixed(4)}` : ''}
              {eta(active) ? ` · ${eta(active)}` : ''}
            </span>
          </div>
        </div>
      ) : null}
      <ProgressChart log={active.log} name={`${active.datasetName}_${active.configuration}_fold${active.fold}`} />
      {active.backendReason ? <div className="muted small">Backend: {active.backend} — {active.backendReason}</div> : null}
      <details className="log-lines">
        <summary className="small muted">training log ({active.logLines.length} lines)</summary>
        <pre data-testid="train-log">{active.logLines.slice(-60).join('\n')}</pre>
      </details>
    </Panel>
  );
}
