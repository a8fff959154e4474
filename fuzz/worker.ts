// Worker side of the harness: receives cases, runs them, posts outcomes back.
import { parentPort } from 'node:worker_threads';
import { runCase } from './execute.ts';
import type { FuzzCase } from './targets.ts';

if (!parentPort) throw new Error('fuzz/worker.ts must run in a worker thread');
const port = parentPort;
port.on('message', async (c: FuzzCase) => {
  const outcome = await runCase(c);
  port.postMessage({ index: c.index, target: c.target, outcome });
});
port.postMessage('ready');
