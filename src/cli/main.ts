// `segstudio` command line: a thin dispatcher. Each verb lives in src/cli/verbs/<verb>.ts and exports
// `run(args: string[]): Promise<number>` plus a one-line `summary`. Progress goes to stderr, results to
// files; any failure exits non-zero with a one-line reason.
import { isSegStudioError } from '../core/errors.ts';

interface VerbModule {
  summary: string;
  run(args: string[]): Promise<number>;
}

const VERB_NAMES = ['verify', 'predict', 'evaluate', 'ensemble', 'postprocess', 'plan', 'train', 'find-best', 'export', 'evaluate-model', 'dicom'];

// Verb modules are loaded lazily (start-up stays fast: `predict` never loads the trainer).
const VERBS: Record<string, () => Promise<VerbModule>> = Object.fromEntries(
  VERB_NAMES.map((name) => [name, () => import(`./verbs/${name}.ts`) as Promise<VerbModule>]),
);

async function usage(): Promise<string> {
  const lines = ['usage: segstudio <verb> [options]', '', 'verbs:'];
  for (const [name, load] of Object.entries(VERBS)) {
    let summary = '(not available in this build)';
    try {
      summary = (await load()).summary;
    } catch {
      /* verb not built yet */
    }
    lines.push(`  ${name.padEnd(12)} ${summary}`);
  }
  return lines.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '-h' || verb === '--help' || verb === 'help') {
    process.stdout.write(await usage());
    return verb ? 0 : 2;
  }
  const load = VERBS[verb];
  if (!load) {
    process.stderr.write(`segstudio: unknown verb '${verb}'\n${await usage()}`);
    return 2;
  }
  try {
    const mod = await load();
    return await mod.run(rest);
  } catch (e) {
    const msg = isSegStudioError(e) ? e.message : e instanceof Error ? e.message : String(e);
    process.stderr.write(`segstudio ${verb}: error: ${msg.split('\n')[0]}\n`);
    if (process.env.SEGSTUDIO_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
