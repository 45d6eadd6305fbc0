// run.ts — `pnpm bench`: runs each bench/*.bench.ts in its own node process, one after the other.
//
// One process per benchmark so peak RSS and JIT/allocator state of one benchmark do not leak into the next, and
// one at a time because timings are meaningless while another benchmark competes for the 2 cores.
// Usage: pnpm bench [name-substring ...]   e.g. `pnpm bench gemm`
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(benchDir, '..');
const filters = process.argv.slice(2);

const all = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const selected = all.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

if (all.length === 0) {
  console.log('bench: no benchmarks yet (no bench/*.bench.ts files); nothing to run.');
  process.exit(0);
}
if (selected.length === 0) {
  console.error(`bench: no bench/*.bench.ts matches ${filters.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}

const failed: string[] = [];
for (const file of selected) {
  console.log(`\n=== ${file}`);
  // tsx resolves @tslora/* to packages/*/src through tsconfig.json paths, so benchmarks need no build.
  const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(benchDir, file)], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (res.status !== 0) failed.push(`${file} (exit ${res.status ?? res.signal})`);
}

console.log(`\nbench: ${selected.length - failed.length} of ${selected.length} benchmark files succeeded`);
if (failed.length > 0) {
  console.error(`bench: failed: ${failed.join(', ')}`);
  process.exit(1);
}
