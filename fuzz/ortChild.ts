// Child process for the ONNX session check: creates an onnxruntime-node session (the CLI's path,
// createOrtNodeRunner) for each model file named on stdin-less argv, printing one JSON line per model.
// A native crash kills only this process; the harness sees which model it was on.
import fs from 'node:fs';
import { createOrtNodeRunner } from '../src/node/ortNodeRunner.ts';
import { isSegStudioError } from '../src/core/errors.ts';

const files = process.argv.slice(2);
for (const f of files) {
  process.stdout.write(JSON.stringify({ start: f }) + '\n');
  const bytes = new Uint8Array(fs.readFileSync(f));
  let line: Record<string, unknown>;
  try {
    const r = await createOrtNodeRunner(bytes, { device: 'cpu', threads: 1, fileName: f });
    await r.dispose?.();
    line = { done: f, cls: 'accepted' };
  } catch (e) {
    line = isSegStudioError(e)
      ? { done: f, cls: 'rejected', error: (e as Error).message.slice(0, 300) }
      : { done: f, cls: 'bug', error: `${(e as Error)?.name}: ${(e as Error)?.message}`.slice(0, 300) };
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}
