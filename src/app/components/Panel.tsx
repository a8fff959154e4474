import type { ReactNode } from 'react';

export function Panel(props: { title: string; right?: ReactNode; children: ReactNode; testId?: string }): ReactNode {
  return (
    <section className="panel" data-testid={props.testId} aria-label={props.title}>
      <div className="panel-head">
        <h2>{props.title}</h2>
        {props.right}
      </div>
      <div className="panel-body">{props.children}</div>
    </section>
  );
}
