// Worker-thread entry: registers tsx (so the TypeScript sources load in this thread too), then runs fuzz/worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
