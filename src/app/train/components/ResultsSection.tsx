import type { ReactNode } from 'react';
import { Panel } from '../../components/Panel.tsx';
import { useApp } from '../../store.ts';
import { exportBundle, useInSegment } from '../trainEngine.ts';

const f3 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));

export function ResultsSection(): ReactNode {
  const runs = useApp((s) => s.train.runs);
  const datasetId = useApp((s) => s.train.dataset?.id);
  const dsLabels = useApp((s) => s.train.dataset?.labels);
  const results = useApp((s) => s.train.results);
  const task = useApp((s) => s.train.task);
  const activeId = useApp((s) => s.train.activeRunId);
  const finished = runs.filter((r) => r.status === 'finished' && r.datasetId === datasetId);
  if (finished.length === 0) return null;
  const names = Object.entries(dsLabels ?? {})
    .filter(([, v]) => v !== 0)
    .map(([k]) => k);
  const active = runs.find((r) => r.runId === activeId);
  const canExport = active?.status === 'finished' && !task;
  return (
    <Panel title="Results" testId="train-results">
      <h3 className="sub-head">Per fold</h3>
      <table className="data-table small" data-testid="train-fold-table">
        <thead>
          <tr>
            <th>configuration</th>
            <th>fold</th>
            {names.map((n) => (
              <th key={n}>{n}</th>
            ))}
            <th>mean</th>
            <th>source</th>
          </tr>
        </thead>
        <tbody>
          {finished.map((r) => {
            const per = names.map((n, i) => r.validation?.perLabel[n] ?? r.log.dice_per_class_or_region.at(-1)?.[i]);
            const m = r.validation?.mean ?? per.reduce((a: number, b) => a + (b ?? NaN), 0) / Math.max(1, per.length);
            return (
              <tr key={r.runId} data-testid="train-fold-row">
                <td>{r.configuration}</td>
                <td>{r.fold}</td>
                {per.map((v, i) => (
                  <td key={i}>{f3(v)}</td>
                ))}
                <td>{f3(m)}</td>
                <td className="muted">{r.validation ? r.validation.source : 'pseudo Dice, last epoch'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {results ? (
        <>
          <h3 className="sub-head">Cross-validation per configuration</h3>
          <table className="data-table small" data-testid="train-cv-table">
            <thead>
              <tr>
                <th>model</th>
                {names.map((n) => (
                  <th key={n}>{n}</th>
                ))}
                <th>mean</th>
              </tr>
            </thead>
            <tbody>
              {results.table.map((row) => (
                <tr key={row.name}>
                  <td>{row.name}</td>
                  {names.map((n) => (
                    <td key={n}>{f3(row.perLabel[n])}</td>
                  ))}
                  <td>{f3(row.mean)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {results.best ? (
            <div className="info-line" data-testid="train-best">
              Best: <b>{results.best.name}</b> (mean Dice {f3(results.best.mean)}) · postprocessing: {results.best.postprocessing}
            </div>
          ) : null}
          <p className="muted small">{results.text}</p>
        </>
      ) : null}
      <div className="btn-row">
        <button type="button" className="btn" data-testid="train-export-bundle" disabled={!canExport} onClick={() => void exportBundle()}>
          Export bundle (.zip)
        </button>
        <button type="button" className="btn btn-primary" data-testid="train-use-model" disabled={!canExport} onClick={() => void useInSegment()}>
          Use in Segment view
        </button>
      </div>
      {active && active.status !== 'finished' ? <div className="muted small">Select a finished run to export it.</div> : null}
    </Panel>
  );
}
