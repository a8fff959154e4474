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
    .filter(([k, v]) => v !== 0 && k !== 'background')
    .map(([k]) => k);
  const active = runs.find((r) => r.runId === activeId);
  const best = results?.source === 'validation' ? results.best : null;
  const canExport = !task && (Boolean(best) || active?.status === 'finished');
  const what = best ? `best model (${best.name})` : active ? `${active.configuration} fold ${active.fold}` : '';
  return (
    <Panel title="Results" testId="train-results">
      <h3 className="sub-head">Validation per fold</h3>
      <table className="data-table small" data-testid="train-fold-table">
        <thead>
          <tr>
            <th>configuration</th>
            <th>fold</th>
            {names.map((n) => (
              <th key={n}>{n}</th>
            ))}
            <th>mean</th>
            <th>from</th>
          </tr>
        </thead>
        <tbody>
          {finished.map((r) => {
            const per = names.map((n, i) => (r.validation ? r.validation.perLabel[n] : r.log.dice_per_class_or_region.at(-1)?.[i]));
            const m = r.validation?.mean ?? per.reduce((a: number, b) => a + (b ?? NaN), 0) / Math.max(1, per.length);
            return (
              <tr key={r.runId} data-testid="train-fold-row" data-source={r.validation ? 'validation' : 'pseudo'}>
                <td>{r.configuration}</td>
                <td>{r.fold}</td>
                {per.map((v, i) => (
                  <td key={i}>{f3(v)}</td>
                ))}
                <td>{f3(m)}</td>
                <td className="muted">{r.validation ? `${r.validation.cases} validation case${r.validation.cases === 1 ? '' : 's'}` : 'pseudo Dice, last epoch'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {results ? (
        <>
          <h3 className="sub-head">{results.source === 'validation' ? 'Cross-validation: configurations and pairwise ensembles' : 'Per configuration (pseudo Dice)'}</h3>
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
                <tr key={row.name} className={best && row.name === best.name ? 'row-selected' : ''}>
                  <td>{row.name}</td>
                  {names.map((n) => (
                    <td key={n}>{f3(row.perLabel[n])}</td>
                  ))}
                  <td>{f3(row.mean)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {best ? (
            <div className="info-line" data-testid="train-best">
              Best: <b>{best.name}</b> · foreground-mean Dice {f3(best.prePp ?? undefined)} → {f3(best.mean)} after postprocessing · postprocessing: {best.postprocessing}
            </div>
          ) : null}
          <p className="muted small">{results.text}</p>
          {results.textTable ? (
            <details>
              <summary className="small muted">nnU-Net's results table</summary>
              <pre className="log-lines-pre" data-testid="train-cv-text">{results.textTable}</pre>
            </details>
          ) : null}
        </>
      ) : null}
      <div className="btn-row">
        <button type="button" className="btn" data-testid="train-export-bundle" disabled={!canExport} onClick={() => void exportBundle()} title={`Model bundle of the ${what}`}>
          Export bundle (.zip)
        </button>
        <button type="button" className="btn btn-primary" data-testid="train-use-model" disabled={!canExport} onClick={() => void useInSegment()} title={`Load the ${what} in the Segment view`}>
          Use in Segment view
        </button>
        <span className="muted small ellipsis">{what}</span>
      </div>
    </Panel>
  );
}
