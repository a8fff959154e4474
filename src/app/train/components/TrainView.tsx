import { useEffect, type ReactNode } from 'react';
import { get, useApp } from '../../store.ts';
import { cancelTask, restoreTrain } from '../trainEngine.ts';
import { DatasetSection, FingerprintSection, IntegritySection } from './DatasetSection.tsx';
import { PlansSection } from './PlansSection.tsx';
import { ResultsSection } from './ResultsSection.tsx';
import { TrainingSection } from './TrainingSection.tsx';

let restored = false;

/** The Train view: dataset → integrity report → fingerprint → plans → training → results. */
export function TrainView(props: { hidden: boolean }): ReactNode {
  const hasRuns = useApp((s) => s.train.runs.length > 0);
  useEffect(() => {
    if (!restored) {
      restored = true;
      restoreTrain();
    }
    // Esc cancels the running step of the Train view (as it cancels a segmentation in the Segment view)
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && get().page === 'train' && get().train.task?.cancellable) cancelTask();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <main className="train-view" hidden={props.hidden} aria-label="Train" data-testid="train-view">
      <div className="train-col">
        <DatasetSection />
        <IntegritySection />
        <FingerprintSection />
      </div>
      <div className="train-col train-col-wide">
        {hasRuns ? <TrainingSection /> : null}
        <ResultsSection />
        <PlansSection />
      </div>
    </main>
  );
}
