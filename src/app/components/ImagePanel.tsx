import type { ReactNode } from 'react';
import { useApp } from '../store.ts';
import { Panel } from './Panel.tsx';

export function ImagePanel(): ReactNode {
  const image = useApp((s) => s.image);
  if (!image) {
    return (
      <Panel title="Image" testId="image-panel">
        <p className="muted">No image yet. Drop a NIfTI (.nii, .nii.gz) or PNG anywhere on the page.</p>
      </Panel>
    );
  }
  const dims = image.is2D ? `${image.shape[2]} × ${image.shape[3]} px` : `${image.shape[3]} × ${image.shape[2]} × ${image.shape[1]}`;
  const sp = image.is2D ? '2D' : image.spacing.every((v) => Math.abs(v - image.spacing[0]) < 1e-3) ? `${image.spacing[0].toFixed(2)} mm` : `${image.spacing[2].toFixed(2)}×${image.spacing[1].toFixed(2)}×${image.spacing[0].toFixed(2)} mm`;
  return (
    <Panel title="Image" testId="image-panel" right={image.isDemo ? <span className="tag">synthetic demo</span> : null}>
      <div className="kv" data-testid="image-name" title={image.files.join('\n')}>
        <span>File</span>
        <b className="ellipsis">{image.name}</b>
      </div>
      <div className="kv">
        <span>Grid</span>
        <b>
          {dims} · {sp}
        </b>
      </div>
      <div className="kv">
        <span>Channels</span>
        <b>
          {image.channels} · {image.format === 'png' ? 'PNG' : 'NIfTI'}
          {image.looksLikeCt ? ' · CT' : ''}
        </b>
      </div>
    </Panel>
  );
}
