// Minimal argument parser for the CLI verbs: flags with values (-o X, --out X, --out=X), boolean flags,
// and multi-value flags (-i A B C). Unknown flags are an error so typos never pass silently.
import { SegStudioError } from '../core/errors.ts';

export interface FlagSpec {
  /** names including dashes, e.g. ['-o', '--out'] */
  names: string[];
  key: string;
  kind: 'string' | 'boolean' | 'multi' | 'number';
}

export interface ParsedArgs {
  flags: Record<string, string | boolean | string[] | number | undefined>;
  positional: string[];
}

export function parseArgs(verb: string, argv: string[], specs: FlagSpec[]): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const positional: string[] = [];
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) for (const n of s.names) byName.set(n, s);
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline: string | undefined;
    if (a.startsWith('--') && a.includes('=')) {
      inline = a.slice(a.indexOf('=') + 1);
      a = a.slice(0, a.indexOf('='));
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const spec = byName.get(a);
      if (!spec) throw new SegStudioError('usage', `${verb}: unknown option ${a}`);
      if (spec.kind === 'boolean') {
        flags[spec.key] = true;
      } else if (spec.kind === 'multi') {
        const vals: string[] = inline !== undefined ? [inline] : [];
        while (inline === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('-')) vals.push(argv[++i]);
        if (vals.length === 0) throw new SegStudioError('usage', `${verb}: ${a} needs at least one value`);
        flags[spec.key] = [...((flags[spec.key] as string[] | undefined) ?? []), ...vals];
      } else {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new SegStudioError('usage', `${verb}: ${a} needs a value`);
        if (spec.kind === 'number') {
          const n = Number(v);
          if (!Number.isFinite(n)) throw new SegStudioError('usage', `${verb}: ${a} expects a number, got '${v}'`);
          flags[spec.key] = n;
        } else flags[spec.key] = v;
      }
    } else positional.push(a);
  }
  return { flags, positional };
}

export function requireFlag(verb: string, p: ParsedArgs, key: string, label: string): string {
  const v = p.flags[key];
  if (typeof v !== 'string' || !v) throw new SegStudioError('usage', `${verb}: missing required option ${label}`);
  return v;
}

/** Writes a progress line to stderr (overwritten in a TTY, one line per update otherwise, rate-limited). */
export function stderrProgress(label: string): (done: number, total: number, stage?: string) => void {
  let last = 0;
  return (done, total, stage) => {
    const now = Date.now();
    if (done !== total && now - last < 500) return;
    last = now;
    const pct = total > 0 ? ((100 * done) / total).toFixed(0) : '?';
    const line = `${label}${stage ? ` [${stage}]` : ''}: ${done}/${total} (${pct}%)`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}
