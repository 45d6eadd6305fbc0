// disk-full.reliability.test.ts — writes that fail for lack of room: the previous state stays intact and the message says why.
//
// Two ways to run out of room: a tiny tmpfs (a real ENOSPC; needs root and mount permission, else
// those cases are skipped and say so) and RLIMIT_FSIZE via `ulimit -f` (EFBIG; works anywhere —
// node ignores SIGXFSZ, so the write fails instead of killing the process).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCleanError,
  expectIntactRun,
  fileDigests,
  makeBaseAndData,
  metricRows,
  runCli,
  runMain,
  runMainOk,
  startTrainUntilLogged,
  tempWorkspace,
  tensorBytes,
  trainArgv,
} from './harness.js';

const mounts: string[] = [];
const ws = tempWorkspace(
  'disk',
  () => `disk full (tmpfs ${canMount ? 'mounted' : 'NOT permitted here: skipped'}; ulimit -f always)`,
  () => {
    for (const m of mounts.reverse()) execFileSync('umount', [m]);
  },
);
const { root, base, data, ledger } = ws;
const adapter = path.join(root, 'adapter');
const ITERS = 12;

const trainArgs = (out: string, ...extra: string[]) =>
  trainArgv({ model: base, data, out, iters: ITERS }, '--lr', '1e-3', '--seed', '5', '--save-every', '1', ...extra);

/** Mounts a tmpfs of `size` at `dir`; false when this machine does not allow it. */
function mountTmpfs(dir: string, size: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    mounts.push(dir);
    return true;
  } catch {
    return false;
  }
}
const canMount = (() => {
  const probe = path.join(root, 'probe');
  if (!mountTmpfs(probe, '64k')) return false;
  execFileSync('umount', [probe]);
  mounts.pop();
  return true;
})();

let refAdapter: Map<string, string>;
let refMerged: Record<string, string>;

beforeAll(async () => {
  await makeBaseAndData(ws, 24);
  await runMainOk(trainArgs(adapter));
  refAdapter = tensorBytes(path.join(adapter, 'adapter_model.safetensors'));
  await runMainOk(['merge', '--model', base, '--adapter', adapter, '--out', path.join(root, 'ref-merged')]);
  refMerged = fileDigests(path.join(root, 'ref-merged'));
});

describe.runIf(canMount)('a full file system (1 MiB / 24 MiB tmpfs, real ENOSPC)', () => {
  it('train: stops with "no space left on device", checkpoints before it stay whole, resume after freeing space ends bit-identical', async () => {
    const disk = path.join(root, 'tmpfs-train');
    expect(mountTmpfs(disk, '1m')).toBe(true);
    const out = path.join(disk, 'run');
    const r = await runMain(trainArgs(out));
    const line = expectCleanError(r, 1, /no space left on device/);
    const steps = expectIntactRun(out);
    expect(steps.length).toBeGreaterThan(0);
    expect(steps, 'every step saved before the disk filled').toEqual(
      Array.from({ length: steps.length }, (_, i) => i + 1),
    );
    expect(steps.length).toBeLessThan(ITERS);
    execFileSync('mount', ['-o', 'remount,size=16m', disk]);
    await runMainOk(trainArgs(out, '--resume', out));
    expect(tensorBytes(path.join(out, 'adapter_model.safetensors'))).toEqual(refAdapter);
    expect(metricRows(path.join(out, 'metrics.jsonl')).map((m) => m.step)).toEqual(
      Array.from({ length: ITERS }, (_, i) => i + 1),
    );
    expectIntactRun(out);
    ledger.add(
      `ENOSPC during train (1 MiB tmpfs) | exit ${r.code} | ${line} | checkpoints 1..${steps.length} whole, no temp files; after remount --resume equals the uninterrupted run bit for bit`,
    );
  });

  it('merge: a new output that does not fit leaves nothing; --force over an existing one keeps it intact', async () => {
    const disk = path.join(root, 'tmpfs-merge');
    expect(mountTmpfs(disk, '24m')).toBe(true); // room for one merged checkpoint (~20 MiB), not two
    const first = path.join(disk, 'merged-1');
    await runMainOk(['merge', '--model', base, '--adapter', adapter, '--out', first]);
    const lines: string[] = [];
    for (const args of [
      ['--out', path.join(disk, 'merged-2')],
      ['--out', first, '--force'],
    ]) {
      const r = await runMain(['merge', '--model', base, '--adapter', adapter, ...args]);
      // Either merge's own free-space check or the ENOSPC of the write itself.
      lines.push(expectCleanError(r, 1, /not enough disk space|no space left on device/));
      expect(fs.readdirSync(disk), 'no new output, no temp dir').toEqual(['merged-1']);
      expect(fileDigests(first)).toEqual(refMerged);
    }
    ledger.add(
      `ENOSPC during merge (24 MiB tmpfs) | exit 1, 1 | ${lines.join(' / ')} | new output absent, no temp dirs; the existing output byte-identical`,
    );
  });
});

describe('a file-size limit (ulimit -f, EFBIG)', () => {
  it('train --resume under ulimit -f 16: exit 1 naming the limit, the checkpoint it resumed from intact, then resumes cleanly', async () => {
    const out = path.join(root, 'ulimit-run');
    // A real earlier state: a run stopped by SIGINT after two logged steps.
    const child = await startTrainUntilLogged(trainArgs(out, '--save-every', '0'), out, 2);
    child.proc.kill('SIGINT');
    expect((await child.done).code).toBe(130);
    const before = expectIntactRun(out);
    expect(before.length).toBe(1);
    const saved = fileDigests(path.join(out, 'checkpoints', `step-${before[0]}`));
    const r = await runCli(trainArgs(out, '--resume', out), { shellPrefix: 'ulimit -f 16;' });
    const line = expectCleanError(r, 1, /file too large for the file-size limit \(ulimit -f\)/);
    expect(expectIntactRun(out)).toEqual(before);
    expect(fileDigests(path.join(out, 'checkpoints', `step-${before[0]}`))).toEqual(saved);
    await runMainOk(trainArgs(out, '--resume', out));
    expect(tensorBytes(path.join(out, 'adapter_model.safetensors'))).toEqual(refAdapter);
    ledger.add(
      `EFBIG during train (ulimit -f 16 KiB) | exit ${r.code} | ${line} | step-${before[0]} byte-identical, no temp files; --resume without the limit equals the uninterrupted run`,
    );
  });

  it('merge --force under ulimit -f 4096: exit 1, the existing output intact, no temp dir', async () => {
    const parent = path.join(root, 'ulimit-merge');
    const out = path.join(parent, 'merged');
    fs.mkdirSync(parent, { recursive: true });
    fs.cpSync(path.join(root, 'ref-merged'), out, { recursive: true });
    const r = await runCli(['merge', '--model', base, '--adapter', adapter, '--out', out, '--force'], {
      shellPrefix: 'ulimit -f 4096;',
    });
    const line = expectCleanError(r, 1, /file too large/);
    expect(fs.readdirSync(parent)).toEqual(['merged']);
    expect(fileDigests(out)).toEqual(refMerged);
    ledger.add(
      `EFBIG during merge (ulimit -f 4 MiB) | exit ${r.code} | ${line} | existing output byte-identical, no temp dir`,
    );
  });
});
