// Writes the bundled demo model to public/models/demo/ (run: node bin/run-ts.mjs scripts/make-demo-model.ts).
// Deterministic: running it again gives the same bytes. See src/core/demo/demoModel.ts for what it is.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDemoBundle } from '../src/core/demo/demoModel.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'public/models/demo');
fs.mkdirSync(out, { recursive: true });
for (const f of fs.readdirSync(out)) fs.rmSync(path.join(out, f));
const files = await buildDemoBundle();
for (const [name, bytes] of files) {
  fs.writeFileSync(path.join(out, name), bytes);
  process.stdout.write(`${path.relative(root, path.join(out, name))}  ${bytes.length} bytes\n`);
}
