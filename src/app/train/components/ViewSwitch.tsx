import type { KeyboardEvent, ReactNode } from 'react';
import { useApp } from '../../store.ts';
import { setPage } from '../trainEngine.ts';
import type { PageView } from '../types.ts';

const VIEWS: { key: PageView; label: string; title: string }[] = [
  { key: 'segment', label: 'Segment', title: 'Segment a scan with a model' },
  { key: 'train', label: 'Train', title: 'Plan and train nnU-Net models on a dataset' },
];

/** Segment | Train tabs in the top bar (ARIA tabs: arrow keys move between them; both views stay mounted). */
export function ViewSwitch(): ReactNode {
  const page = useApp((s) => s.page);
  const training = useApp((s) => s.train.runs.some((r) => r.status === 'running' || r.status === 'preparing'));
  const onKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const i = VIEWS.findIndex((v) => v.key === page);
    const next = VIEWS[(i + (e.key === 'ArrowRight' ? 1 : VIEWS.length - 1)) % VIEWS.length];
    setPage(next.key);
    (document.getElementById(`view-tab-${next.key}`) as HTMLButtonElement | null)?.focus();
    e.preventDefault();
  };
  return (
    <div className="seg view-switch" role="tablist" aria-label="View">
      {VIEWS.map((v) => (
        <button
          key={v.key}
          id={`view-tab-${v.key}`}
          type="button"
          role="tab"
          aria-selected={page === v.key}
          tabIndex={page === v.key ? 0 : -1}
          className={`seg-btn${page === v.key ? ' active' : ''}`}
          data-testid={`view-${v.key}`}
          title={v.title}
          onClick={() => setPage(v.key)}
          onKeyDown={onKey}
        >
          {v.label}
          {v.key === 'train' && training ? <span className="tab-dot" aria-label="training runs" /> : null}
        </button>
      ))}
    </div>
  );
}
