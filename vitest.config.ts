import { defineConfig } from 'vitest/config';
import './test/vitestNode20.ts';

// Unit tests: pure core code under Node. End-to-end tests live in e2e/ with their own config.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
