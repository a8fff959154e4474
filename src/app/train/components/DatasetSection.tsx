import { useEffect, useRef, useState, type ReactNode } from 'react';
import { Panel } from '../../components/Panel.tsx';
import { useApp } from '../../store.ts';
import { cancelTask, deleteDatasetCopy, openDataset, storageUsageText, type DroppedFile } from '../trainEngine.ts';
import type { TrainTask } from '../types.ts';

const fmt = (v: number, d = 3) => (Number.isFinite(v) ? String(+v.toFixed(d)) : '–');
const dims = (a: number[] | undefined, d = 3) => (a ? a.map((v) => fmt(v, d)).join(' × ') : '–');
const compact = (a: number[] | undefined, d = 3) => (a ? a.map((v) => fmt(v, d)).join('×') : '–');
const sig = (v: number) => (Number.isFinite(v) ? String(+v.toPrecision(4)) : '–');

function units(v: number, unit: string): string {
  if (unit === 'bytes') return `${(v / 1e6).toFixed(1)} MB`;
  return `${v}${unit ? ` ${unit}` : ''}`;
}

export function TaskBar(props: { task: TrainTask | null }): ReactNode {
  const t = props.task;
  if (!t) return null;
  const pct = t.total > 0 ? Math.min(100, (100 * t.done) / t.total) : 0;
  return (
    <div className="progress-block" data-testid="train-task" role="status" aria-live="polite">
      <div className="progress-bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)} aria-label={t.stage}>
        <div className={`progress-fill${t.total > 0 ? '' : ' progress-indeterminate'}`} style={{ width: t.total > 0 ? `${pct}%` : '30%' }} />
      </div>
      <div className="progress-text">
        <span className="ellipsis">{t.stage}…</span>
        <span>{t.total > 0 ? `${units(t.done, t.unit)} / ${units(t.total, t.unit)}` : ''}</span>
        {t.cancellable ? (
          <button type="button" className="btn btn-small" data-testid="train-cancel" onClick={cancelTask}>
            Cancel
          </button>
        ) : null}
      </div>
    </div>
  );
}

function toDropped(list: FileList | null): DroppedFile[] {
  if (!list) return [];
  return Array.from(list).map((f) => ({ path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f }));
}

function StorageLine(): ReactNode {
  const dataset = useApp((s) => s.train.dataset);
  const runs = useApp((s) => s.train.runs.length);
  const task = useApp((s) => s.train.task);
  const [usage, setUsage] = useState('');
  useEffect(() => {
    // only once a dataset is there: the planning worker is not started for visitors who never train
    if (!task && dataset) void storageUsageText().then(setUsage);
  }, [dataset?.storedAt, runs, task]);
  if (!usage && !dataset?.storedAt) return null;
  return (
    <div className="storage-line small muted" data-testid="train-storage">
      <span>Browser storage: {usage || 'usage unknown'}</span>
      {dataset?.storedAt ? (
        <button
          type="button"
          className="btn btn-small"
          title="Delete the stored copy of this dataset (its runs then need the folder dropped again to resume)"
          onClick={() => {
            if (confirm(`Delete the stored copy of ${dataset.name}? Runs on it can only resume after dropping the dataset again.`)) void deleteDatasetCopy();
          }}
        >
          Free the dataset copy
        </button>
      ) : null}
    </div>
  );
}

export function DatasetSection(): ReactNode {
  const dataset = useApp((s) => s.train.dataset);
  const task = useApp((s) => s.train.task);
  const folder = useRef<HTMLInputElement>(null);
  const zip = useRef<HTMLInputElement>(null);
  return (
    <Panel
      title="Dataset"
      testId="train-dataset"
      right={
        <div className="btn-row">
          <button type="button" className="btn btn-small" disabled={Boolean(task)} onClick={() => folder.current?.click()} title="Choose an nnU-Net raw dataset folder">
            Folder…
          </button>
          <button type="button" className="btn btn-small" disabled={Boolean(task)} onClick={() => zip.current?.click()} title="Choose a .zip of an nnU-Net raw dataset">
            Zip…
          </button>
          <input
            ref={folder}
            type="file"
            hidden
            multiple
            data-testid="train-folder-input"
            {...({ webkitdirectory: '' } as Record<string, string>)}
            onChange={(e) => {
              void openDataset(toDropped(e.target.files));
              e.target.value = '';
            }}
          />
          <input
            ref={zip}
            type="file"
            hidden
            accept=".zip"
            data-testid="train-zip-input"
            onChange={(e) => {
              void openDataset(toDropped(e.target.files));
              e.target.value = '';
            }}
          />
        </div>
      }
    >
      {dataset ? (
        <div className="kv-grid small" data-testid="train-dataset-info">
          <span className="muted">name</span>
          <span className="ellipsis">{dataset.name}</span>
          <span className="muted">from</span>
          <span className="ellipsis">
            {dataset.source} · {dataset.files} files · {(dataset.bytes / 1e6).toFixed(1)} MB
          </span>
          <span className="muted">cases</span>
          <span>{dataset.caseIds.length}</span>
          <span className="muted">channels</span>
          <span className="ellipsis">{Object.entries(dataset.channels).map(([k, v]) => `${k}: ${v}`).join(', ')}</span>
          <span className="muted">labels</span>
          <span className="ellipsis">{Object.entries(dataset.labels).map(([k, v]) => `${String(v)} ${k}`).join(', ')}</span>
          <span className="muted">kept in</span>
          <span className="ellipsis" title={dataset.storeProblem ?? dataset.storedAt ?? ''}>
            {dataset.storedAt ?? <span className="tag tag-warn">not stored: {dataset.storeProblem}</span>}
          </span>
        </div>
      ) : (
        <div className="train-drop-hint" data-testid="train-drop-hint">
          Drop an nnU-Net raw dataset folder (<code>dataset.json</code>, <code>imagesTr/</code>, <code>labelsTr/</code>) or a <code>.zip</code> of one anywhere
          on this page. Files are read on this device only.
        </div>
      )}
      <StorageLine />
      <TaskBar task={task} />
    </Panel>
  );
}

export function IntegritySection(): ReactNode {
  const report = useApp((s) => s.train.verify);
  const [showAll, setShowAll] = useState(false);
  if (!report) return null;
  const byCase = new Map<string, typeof report.problems>();
  for (const p of report.problems) {
    const k = p.case ?? '(dataset)';
    byCase.set(k, [...(byCase.get(k) ?? []), p]);
  }
  const rows = showAll ? report.cases : report.cases.filter((c) => c.errors + c.warnings > 0).concat(report.cases.filter((c) => c.errors + c.warnings === 0).slice(0, 8));
  return (
    <Panel
      title="Integrity check"
      testId="train-verify"
      right={
        <span className={`tag ${report.ok ? '' : 'tag-warn'}`} data-testid="train-verify-status">
          {report.ok ? 'OK' : 'errors'} · {report.errors} error{report.errors === 1 ? '' : 's'} · {report.warnings} warning{report.warnings === 1 ? '' : 's'}
        </span>
      }
    >
      {(byCase.get('(dataset)') ?? []).map((p, i) => (
        <div key={i} className={p.severity === 'error' ? 'err-line' : 'warn-line'}>
          {p.file ? <b>{p.file}: </b> : null}
          {p.problem}
        </div>
      ))}
      <div className="table-scroll">
        <table className="data-table small verify-table" data-testid="train-verify-table">
          <thead>
            <tr>
              <th>case</th>
              <th>shape</th>
              <th>mm</th>
              <th>labels</th>
              <th>status</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} className={c.errors ? 'row-err' : c.warnings ? 'row-warn' : ''}>
                <td title={[...c.images, c.label ?? ''].join('\n')}>{c.id}</td>
                <td className="nowrap">{compact(c.shape, 0)}</td>
                <td className="nowrap">{compact(c.spacing)}</td>
                <td>{c.labelValues?.join(', ') ?? '–'}</td>
                <td>
                  {c.errors + c.warnings === 0 ? (
                    <span className="ok-text">ok</span>
                  ) : (
                    (byCase.get(c.id) ?? []).map((p, i) => (
                      <div key={i} className={p.severity === 'error' ? 'err-text' : 'warn-text'}>
                        {p.file ? `${p.file}: ` : ''}
                        {p.problem}
                      </div>
                    ))
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {report.cases.length > rows.length || showAll ? (
        <button type="button" className="btn btn-small" onClick={() => setShowAll(!showAll)}>
          {showAll ? 'Show problems only' : `Show all ${report.cases.length} cases`}
        </button>
      ) : null}
    </Panel>
  );
}

export function FingerprintSection(): ReactNode {
  const fp = useApp((s) => s.train.fingerprint);
  const planError = useApp((s) => s.train.planError);
  if (!fp) return planError ? <div className="err-line" data-testid="train-plan-error">{planError}</div> : null;
  return (
    <Panel title="Fingerprint" testId="train-fingerprint">
      <div className="kv-grid small">
        <span className="muted">cases</span>
        <span>{fp.cases}</span>
        <span className="muted">spacing (median)</span>
        <span>{dims(fp.medianSpacing)} mm</span>
        <span className="muted">spacing range</span>
        <span>
          {dims(fp.minSpacing)} … {dims(fp.maxSpacing)}
        </span>
        <span className="muted">shape after crop (median)</span>
        <span>{dims(fp.medianShape, 1)}</span>
        <span className="muted">shape range</span>
        <span>
          {dims(fp.minShape, 0)} … {dims(fp.maxShape, 0)}
        </span>
      </div>
      <table className="data-table small" data-testid="train-intensity-table">
        <thead>
          <tr>
            <th>channel</th>
            <th>mean</th>
            <th>sd</th>
            <th>median</th>
            <th>0.5–99.5 %</th>
            <th>min … max</th>
          </tr>
        </thead>
        <tbody>
          {fp.channels.map((c) => (
            <tr key={c.channel}>
              <td>
                {c.channel} {c.name}
              </td>
              <td>{sig(c.mean)}</td>
              <td>{sig(c.std)}</td>
              <td>{sig(c.median)}</td>
              <td>
                {sig(c.p005)} … {sig(c.p995)}
              </td>
              <td>
                {sig(c.min)} … {sig(c.max)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Foreground intensities (inside the labels), as nnU-Net's fingerprint. {fp.text}</p>
    </Panel>
  );
}
