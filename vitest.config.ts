// vitest.config.ts — one Vitest run over every workspace package, with @tslora/* resolved to source (no build needed).
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const src = (pkg: string, file = 'index.ts'): string => `${root}packages/${pkg}/src/${file}`;

// Exact matches (anchored regexes) so `@tslora/core-tensor/testing` is not caught by the `@tslora/core-tensor` rule.
// Keep in step with `paths` in tsconfig.base.json, which does the same for the type checker and tsx.
const alias = [
  { find: /^@tslora\/core-tensor$/, replacement: src('core-tensor') },
  { find: /^@tslora\/core-tensor\/testing$/, replacement: src('core-tensor', 'testing.ts') },
  { find: /^@tslora\/attention$/, replacement: src('attention') },
  { find: /^@tslora\/lora$/, replacement: src('lora') },
  { find: /^@tslora\/tokenizer-inspect$/, replacement: src('tokenizer-inspect') },
];

// One project per workspace package (packages/*, apps/*), named after its folder: `vitest --project lora`.
const packageDirs = ['packages', 'apps'].flatMap((group) =>
  readdirSync(`${root}${group}`)
    .filter((name) => existsSync(`${root}${group}/${name}/package.json`))
    .map((name) => ({ group, name })),
);

// .ci/run sets TSLORA_VITEST_JSON to get machine-readable counts next to the usual console summary.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: Vitest runs at the root, not as a turbo task.
const jsonOut = process.env.TSLORA_VITEST_JSON;

export default defineConfig({
  resolve: { alias },
  test: {
    // Some tests train tiny models end to end on 2 cores; 5 s (the default) is far too short for them.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Child processes, not worker threads: onnxruntime-node's native addon is loaded once per process.
    pool: 'forks',
    reporters: jsonOut ? ['default', 'json'] : ['default'],
    outputFile: jsonOut ? { json: jsonOut } : undefined,
    projects: [
      ...packageDirs.map(({ group, name }) => ({
        extends: true as const,
        test: {
          name,
          root: `${root}${group}/${name}`,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        },
      })),
      // Repository-level checks: the packed-tarball install test and other release tooling.
      { extends: true as const, test: { name: 'release', root, include: ['scripts/**/*.test.ts'] } },
    ],
  },
});
