import type { ReactNode } from 'react';
import { dismissError, set, useApp } from '../store.ts';

export function ErrorBanner(): ReactNode {
  const errors = useApp((s) => s.errors);
  const notice = useApp((s) => s.notice);
  return (
    <div className="banners" aria-live="assertive">
      {errors.map((e) => (
        <div key={e.id} className="banner banner-error" role="alert" data-testid="error-banner">
          <span className="banner-icon" aria-hidden>!</span>
          <div className="banner-text">
            {e.file ? <strong>{e.file}</strong> : null}
            <span>{e.file && e.message.startsWith(e.file) ? e.message.slice(e.file.length).replace(/^:\s*/, '') : e.message}</span>
          </div>
          <button type="button" className="banner-close" aria-label="Dismiss" onClick={() => dismissError(e.id)}>
            ×
          </button>
        </div>
      ))}
      {notice ? (
        <div className="banner banner-info" role="status" data-testid="notice">
          <div className="banner-text">
            <span>{notice}</span>
          </div>
          <button type="button" className="banner-close" aria-label="Dismiss" onClick={() => set({ notice: null })}>
            ×
          </button>
        </div>
      ) : null}
    </div>
  );
}
