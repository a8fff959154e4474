import { useState, type ReactNode } from 'react';
import { Panel } from '../../components/Panel.tsx';
import { useApp } from '../../store.ts';
import { configurationNames } from '../datasetIntake.ts';
import { applyPlanEdits, foldCount, trainableProblem } from '../planEdit.ts';
import { downloadPlanningFiles, editPlan, resetPlanEdits, setSchedule, startProblems, startTraining } from '../trainEngine.ts';
import type { PlanEdits, TrainBackendChoice } from '../types.ts';

/** A number field that keeps what the user typed (even invalid) and reports numbers (NaN when not a number). */
function NumField(props: { label: string; value: number; onChange: (v: number) => void; testId: string; min?: number; title?: string }): ReactNode {
  const [text, setText] = useState<string | null>(null);
  return (
    <label className="field" title={props.title}>
      <span className="muted small">{props.label}</span>
      <input
        type="number"
        data-testid={props.testId}
        min={props.min ?? 1}
        value={text ?? String(props.value)}
        onChange={(e) => {
          setText(e.target.value);
          props.onChange(e.target.value.trim() === '' ? NaN : Number(e.target.value));
        }}
        onBlur={() => setText(null)}
      />
    </label>
  );
}

function PatchField(props: { value: number[]; onChange: (v: number[]) => void; testId: string }): ReactNode {
  const [text, setText] = useState<string | null>(null);
  return (
    <label className="field" title="Voxels per axis (array order), e.g. 40 × 56 × 40">
      <span className="muted small">patch size</span>
      <input
        type="text"
        data-testid={props.testId}
        value={text ?? props.value.join(' × ')}
        onChange={(e) => {
          setText(e.target.value);
          const parts = e.target.value.split(/[^0-9.]+/).filter(Boolean).map(Number);
          props.onChange(parts);
        }}
        onBlur={() => setText(null)}
      />
    </label>
  );
}

function ConfigCard(props: { name: string; selected: boolean }): ReactNode {
  const plans = useApp((s) => s.train.plans)!;
  const edits = useApp((s) => s.train.edits[props.name]) as PlanEdits | undefined;
  const explanation = useApp((s) => s.train.explanations[props.name]);
  if (!edits) return null;
  const applied = applyPlanEdits(plans, props.name, edits);
  const tp = trainableProblem(plans, props.name);
  const arch = applied.plans?.configurations[props.name]?.architecture?.arch_kwargs;
  const id = `cfg-${props.name}`;
  return (
    <div className={`config-card${props.selected ? ' config-selected' : ''}`} data-testid={`train-config-${props.name}`}>
      <label className="config-head">
        <input type="radio" name="train-config" checked={props.selected} disabled={Boolean(tp)} onChange={() => setSchedule({ configuration: props.name })} data-testid={`train-pick-${props.name}`} />
        <b>{props.name}</b>
        {tp ? <span className="tag tag-warn">not trainable here</span> : null}
      </label>
      <p className="small config-explain" id={id}>
        {explanation}
      </p>
      {tp ? <div className="warn-line">{tp}</div> : null}
      <div className="options options-4" aria-describedby={id}>
        <PatchField value={edits.patchSize} onChange={(v) => editPlan(props.name, { patchSize: v })} testId={`edit-patch-${props.name}`} />
        <NumField label="batch size" value={edits.batchSize} onChange={(v) => editPlan(props.name, { batchSize: v })} testId={`edit-batch-${props.name}`} />
        <NumField label="base features" value={edits.baseFeatures} onChange={(v) => editPlan(props.name, { baseFeatures: v })} testId={`edit-base-${props.name}`} title="Feature maps of the first stage (nnU-Net: 32), doubled per stage" />
        <NumField label="max features" value={edits.maxFeatures} onChange={(v) => editPlan(props.name, { maxFeatures: v })} testId={`edit-max-${props.name}`} title="Cap of the feature maps per stage (nnU-Net: 320 in 3D, 512 in 2D)" />
      </div>
      {applied.problems.map((p, i) => (
        <div key={i} className="err-line" data-testid="plan-problem">
          {p}
        </div>
      ))}
      {arch && applied.problems.length === 0 ? (
        <div className="muted small" data-testid={`train-arch-${props.name}`}>
          {arch.n_stages} stages · features {arch.features_per_stage.join(', ')} · pooling {arch.strides.slice(1).map((s) => s.join('')).join(' ')}
          {applied.notes.length ? ` · edited: ${applied.notes.join('; ')}` : ''}
          {applied.notes.length ? (
            <button type="button" className="btn btn-small btn-link" onClick={() => resetPlanEdits(props.name)}>
              reset
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

export function PlansSection(): ReactNode {
  const plans = useApp((s) => s.train.plans);
  const schedule = useApp((s) => s.train.schedule);
  const dataset = useApp((s) => s.train.dataset);
  const train = useApp((s) => s.train);
  if (!plans || !dataset) return null;
  const names = configurationNames(plans);
  const nFolds = foldCount(dataset.caseIds.length);
  const problems = startProblems(train);
  const toggleFold = (f: number) => setSchedule({ folds: schedule.folds.includes(f) ? schedule.folds.filter((x) => x !== f) : [...schedule.folds, f].sort() });
  return (
    <Panel
      title="Plans"
      testId="train-plans"
      right={
        <div className="btn-row">
          <span className="muted small">{plans.plans_name} · 8 GB memory target (nnU-Net's reference)</span>
          <button type="button" className="btn btn-small" title="nnUNetPlans.json with your edits" data-testid="download-plans" onClick={() => downloadPlanningFiles('plans')}>
            plans.json
          </button>
          <button type="button" className="btn btn-small" title="dataset_fingerprint.json" onClick={() => downloadPlanningFiles('fingerprint')} disabled={!train.fingerprintJson}>
            fingerprint
          </button>
          <button type="button" className="btn btn-small" title="splits_final.json (nnU-Net's 5-fold split)" onClick={() => downloadPlanningFiles('splits')} disabled={!train.splits}>
            splits
          </button>
        </div>
      }
    >
      <div className="config-list">
        {names.map((n) => (
          <ConfigCard key={n} name={n} selected={schedule.configuration === n} />
        ))}
      </div>
      <h3 className="sub-head">Schedule</h3>
      <div className="options options-4">
        <NumField label="epochs" value={schedule.epochs} onChange={(v) => setSchedule({ epochs: v })} testId="edit-epochs" title="nnU-Net: 1000" />
        <NumField label="iterations / epoch" value={schedule.iterationsPerEpoch} onChange={(v) => setSchedule({ iterationsPerEpoch: v })} testId="edit-iterations" title="nnU-Net: 250" />
        <NumField label="val iterations" value={schedule.valIterationsPerEpoch} onChange={(v) => setSchedule({ valIterationsPerEpoch: v })} testId="edit-val-iterations" title="nnU-Net: 50" />
        <label className="field">
          <span className="muted small">backend</span>
          <select data-testid="edit-backend" value={schedule.backend} onChange={(e) => setSchedule({ backend: e.target.value as TrainBackendChoice })}>
            <option value="auto">Auto</option>
            <option value="webgpu">WebGPU</option>
            <option value="cpu">CPU (WASM)</option>
          </select>
        </label>
      </div>
      <div className="fold-pick" role="group" aria-label="Folds to train">
        <span className="muted small">folds</span>
        {Array.from({ length: nFolds }, (_, f) => (
          <label key={f} className="check">
            <input type="checkbox" data-testid={`edit-fold-${f}`} checked={schedule.folds.includes(f)} onChange={() => toggleFold(f)} />
            {f}
          </label>
        ))}
        <button type="button" className="btn btn-small" onClick={() => setSchedule({ folds: Array.from({ length: nFolds }, (_, f) => f) })} disabled={nFolds === 0}>
          all
        </button>
      </div>
      {problems.map((p, i) => (
        <div key={i} className="err-line" data-testid="start-problem">
          {p}
        </div>
      ))}
      <button type="button" className="btn btn-primary btn-wide" data-testid="train-start" disabled={problems.length > 0} onClick={() => void startTraining()}>
        Train {schedule.configuration} · fold{schedule.folds.length === 1 ? '' : 's'} {schedule.folds.join(', ')} · {schedule.epochs} × {schedule.iterationsPerEpoch}
      </button>
    </Panel>
  );
}
