import type { ReactNode } from 'react';
import { cancelDicom, closePicker, openSeries, showPicker, useDicom } from '../dicom.ts';
import './SeriesPicker.css';

const fmtDims = (d: number[]) => d.join(' × ');
const fmtMm = (v: number[]) => v.map((x) => (Math.round(x * 100) / 100).toString()).join(' × ');

/** DICOM import: progress with Cancel while dcm2niix converts, then the series list when there are several. */
export function SeriesPicker(): ReactNode {
  const phase = useDicom((s) => s.phase);
  const source = useDicom((s) => s.source);
  const stage = useDicom((s) => s.stage);
  const done = useDicom((s) => s.done);
  const total = useDicom((s) => s.total);
  const series = useDicom((s) => s.series);
  const skipped = useDicom((s) => s.skipped);
  const openedId = useDicom((s) => s.openedId);

  if (phase === 'converting') {
    const pct = total > 0 ? Math.min(100, Math.round((100 * done) / total)) : 0;
    return (
      <div className="dicom-backdrop" data-testid="dicom-progress" role="dialog" aria-label="Converting DICOM">
        <div className="dicom-dialog">
          <h2>Converting DICOM</h2>
          <div className="muted small ellipsis">{source} · dcm2niix on this device</div>
          <div className="progress-block">
            <div className="progress-bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
              <div className="progress-fill" style={{ width: `${pct}%` }} />
            </div>
            <div className="progress-text">
              <span className="ellipsis" data-testid="dicom-stage">{stage}</span>
              <span>{pct}%</span>
            </div>
          </div>
          <div className="dicom-foot">
            <span className="muted small">Files are read on this device only</span>
            <button type="button" className="btn" data-testid="dicom-cancel" onClick={cancelDicom}>
              Cancel
            </button>
          </div>
        </div>
      </div>
    );
  }
  if (phase === 'choosing') {
    return (
      <div className="dicom-backdrop" data-testid="dicom-picker" role="dialog" aria-label="Choose a DICOM series">
        <div className="dicom-dialog">
          <h2>Choose a series</h2>
          <div className="muted small ellipsis">
            {source}: {series.length} series converted
          </div>
          {skipped ? <div className="warn-line" data-testid="dicom-skipped">{skipped}</div> : null}
          <table className="dicom-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Description</th>
                <th>Modality</th>
                <th>Voxels</th>
                <th>Voxel size (mm)</th>
                <th>Files</th>
              </tr>
            </thead>
            <tbody>
              {series.map((s) => (
                <tr
                  key={s.id}
                  className={`dicom-row${s.id === openedId ? ' dicom-row-open' : ''}`}
                  data-testid="dicom-series"
                  data-series-id={s.id}
                  data-description={s.description}
                  tabIndex={0}
                  onClick={() => void openSeries(s.id)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter' || e.key === ' ') void openSeries(s.id);
                  }}
                >
                  <td>{s.seriesNumber ?? ''}</td>
                  <td>{s.description || <span className="muted">(no description)</span>}</td>
                  <td>{s.modality}</td>
                  <td>{fmtDims(s.dims)}</td>
                  <td>{fmtMm(s.voxelSize)}</td>
                  <td>{s.fileCount || ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="dicom-foot">
            <span className="muted small">Each series was converted to NIfTI with dcm2niix; the segmentation is saved on the chosen series' grid.</span>
            <button type="button" className="btn" data-testid="dicom-close" onClick={closePicker}>
              Close
            </button>
          </div>
        </div>
      </div>
    );
  }
  if (series.length > 1) {
    return (
      <button type="button" className="btn btn-small dicom-reopen" data-testid="dicom-reopen" onClick={showPicker}>
        DICOM series ({series.length})…
      </button>
    );
  }
  return null;
}
