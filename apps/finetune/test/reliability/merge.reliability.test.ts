// merge.reliability.test.ts — merge under SIGKILL (the output is whole or absent) and merge's bad inputs.
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile, writeSafetensors } from '@tslora/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCleanError,
  expectRefusedWritingNothing,
  fileDigests,
  killAfterEvent,
  listTree,
  makeBaseAndData,
  runMain,
  runMainOk,
  seededDelays,
  startCli,
  tempWorkspace,
  trainArgv,
} from './harness.js';

const ws = tempWorkspace('merge', 'merge');
const { root, base, data, ledger } = ws;
const adapter = path.join(root, 'adapter');
const refOut = path.join(root, 'reference-merged');
const KILLS = 20;

let ref: Record<string, string>;

beforeAll(async () => {
  await makeBaseAndData(ws, 8);
  await runMainOk(trainArgv({ model: base, data, out: adapter, iters: 2 }, '--lr', '1e-2'));
  await runMainOk(['merge', '--model', base, '--adapter', adapter, '--out', refOut]);
  ref = fileDigests(refOut);
  expect(Object.keys(ref)).toContain('model.safetensors');
  SafetensorsFile.open(path.join(refOut, 'model.safetensors')).close();
});

describe(`SIGKILL at ${KILLS} random moments of merge`, () => {
  const parent = path.join(root, 'kills');
  const out = path.join(parent, 'merged');
  // hidden entries beside --out: temp dirs (`.merged.tmp-PID-HEX[.old]`) and the lock a killed merge leaves
  const temps = () => (fs.existsSync(parent) ? fs.readdirSync(parent).filter((f) => f.startsWith('.')) : []);
  const tempDirs = () => temps().filter((f) => f.startsWith('.merged.tmp-'));
  const stats = {
    kills: 0,
    midWrite: 0,
    absent: 0,
    complete: 0,
    replaced: 0,
    setAside: 0,
    finished: 0,
    delays: [] as string[],
  };

  it('the output directory is either absent or complete and byte-identical to an uninterrupted merge', async () => {
    fs.mkdirSync(parent, { recursive: true });
    const rnd = seededDelays(9_001);
    for (let i = 0; stats.kills < KILLS; i++) {
      // Odd runs replace an existing complete output (--force): it must never be left half-replaced.
      const force = i % 2 === 1;
      fs.rmSync(out, { recursive: true, force: true });
      if (force) fs.cpSync(refOut, out, { recursive: true });
      const mode = i % 3 === 2 ? 'startup' : 'write';
      const delay = mode === 'write' ? rnd(0, 60) : rnd(50, 1200);
      const before = new Set(tempDirs());
      const child = startCli([
        'merge',
        '--model',
        base,
        '--adapter',
        adapter,
        '--out',
        out,
        ...(force ? ['--force'] : []),
      ]);
      const r = await killAfterEvent(
        child,
        parent,
        delay,
        mode === 'write' ? (f) => f.startsWith('.merged.tmp-') : null,
      );
      if (fs.existsSync(out)) {
        expect(fileDigests(out), `after ${mode}+${delay}ms`).toEqual(ref);
        if (force) stats.replaced++;
        else stats.complete++;
      } else if (force) {
        // killed between publish()'s two renames: the previous output is set aside whole, and the
        // next merge into --out moves it back before anything else (checked below)
        const aside = temps().filter((f) => f.endsWith('.old'));
        expect(aside, 'a --force merge must not lose the previous output').toHaveLength(1);
        expect(fileDigests(path.join(parent, aside[0] as string)), 'the set-aside output is complete').toEqual(ref);
        // the next merge (here without --force) puts it back first, then refuses the non-empty --out
        const next = await runMain(['merge', '--model', base, '--adapter', adapter, '--out', out]);
        expect(next.code, next.stderr).toBe(2);
        expect(fileDigests(out), 'the previous output is back').toEqual(ref);
        stats.setAside++;
      } else {
        stats.absent++;
      }
      if (r.signal !== 'SIGKILL') {
        expect(r.code, r.stderr).toBe(0);
        stats.finished++;
        continue;
      }
      stats.kills++;
      const fresh = tempDirs().filter((f) => !before.has(f));
      if (fresh.length) stats.midWrite++;
      stats.delays.push(`${force ? 'force:' : ''}${mode}+${delay}ms${fresh.length ? '*' : ''}`);
    }
    expect(new Set(stats.delays).size, 'different delays').toBeGreaterThan(KILLS / 2);
    ledger.add(
      `SIGKILL during merge | ${stats.kills} kills (${stats.midWrite} mid-write, left a .merged.tmp-* temp dir) | after each: new output absent ${stats.absent}× or complete and byte-identical ${stats.complete}×; with --force over an existing output it was complete ${stats.replaced}× or set aside whole for the next merge to restore ${stats.setAside}×; never partial; ${stats.finished} runs outlived their delay`,
    );
    ledger.add(`  delays (* = mid-write): ${stats.delays.join(' ')}`);
  }, 300_000);

  it('a merge after the kills succeeds and equals the uninterrupted merge', async () => {
    await runMainOk(['merge', '--model', base, '--adapter', adapter, '--out', out, '--force']);
    expect(fileDigests(out)).toEqual(ref);
  });

  // Temp dirs of killed merges (`.merged.tmp-PID-HEX`, up to a full model each) and the stale lock
  // of the last killed one are removed by the
  // next merge into the same --out.
  it('the next merge removes the temp dirs of killed merges', () => {
    const left = temps();
    const bytes = left.reduce(
      (s, d) =>
        s +
        listTree(path.join(parent, d)).reduce(
          (t, f) => t + (f.endsWith('/') ? 0 : fs.statSync(path.join(parent, d, f)).size),
          0,
        ),
      0,
    );
    ledger.add(
      `leftovers after the kills and one more merge: ${left.length} temp dirs, ${(bytes / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(left).toEqual([]);
  });
});

/** A copy of the trained adapter with `mutate` applied to its tensors (name → {shape, data}). */
function badAdapter(name: string, mutate: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
  const dir = path.join(root, 'bad-adapters', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(adapter, 'adapter_config.json'), path.join(dir, 'adapter_config.json'));
  const st = SafetensorsFile.open(path.join(adapter, 'adapter_model.safetensors'));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>(
    st.tensors.map((t) => [t.name, { shape: [...t.shape], data: st.readF32(t.name) }]),
  );
  st.close();
  mutate(tensors);
  writeSafetensors(
    path.join(dir, 'adapter_model.safetensors'),
    [...tensors].map(([n, t]) => ({
      name: n,
      dtype: 'f32' as const,
      shape: t.shape,
      data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    })),
  );
  return dir;
}

const Q_A = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';

describe('merge: bad adapters and outputs — exit 2, names listed, nothing written', () => {
  const cases: { name: string; args: () => string[]; error: RegExp }[] = [
    {
      name: 'adapter shapes do not fit the model',
      args: () => [
        '--adapter',
        badAdapter('shape', (t) => t.set(Q_A, { shape: [8, 16], data: new Float32Array(128) })),
        '--out',
        path.join(root, 'o1'),
      ],
      error: /q_proj/,
    },
    {
      name: 'adapter names a layer the model does not have',
      args: () => [
        '--adapter',
        badAdapter('layer', (t) => {
          const v = t.get(Q_A) as { shape: number[]; data: Float32Array };
          const b = t.get(Q_A.replace('lora_A', 'lora_B')) as { shape: number[]; data: Float32Array };
          t.set(Q_A.replace('layers.0', 'layers.7'), v);
          t.set(Q_A.replace('layers.0', 'layers.7').replace('lora_A', 'lora_B'), b);
        }),
        '--out',
        path.join(root, 'o2'),
      ],
      error: /layers\.7/,
    },
    {
      name: 'adapter_config.json missing',
      args: () => {
        const d = badAdapter('no-config', () => {});
        fs.rmSync(path.join(d, 'adapter_config.json'));
        return ['--adapter', d, '--out', path.join(root, 'o3')];
      },
      error: /adapter_config\.json/,
    },
    {
      name: 'adapter directory missing',
      args: () => ['--adapter', path.join(root, 'nope'), '--out', path.join(root, 'o4')],
      error: /nope/,
    },
    {
      name: '--out exists and is not empty (no --force)',
      args: () => ['--adapter', adapter, '--out', refOut],
      error: /not empty/,
    },
    { name: '--out is a file', args: () => ['--adapter', adapter, '--out', data], error: /not a directory/ },
    {
      name: '--out inside --model',
      args: () => ['--adapter', adapter, '--out', base, '--force'],
      error: /would replace the input/,
    },
  ];
  it.each(cases)('$name', async (c) => {
    const args = ['merge', '--model', base, ...c.args()];
    const baseDigest = fileDigests(base);
    const { r, line } = await expectRefusedWritingNothing(root, args, [c.error], 'nothing written');
    expect(fileDigests(base), 'the base checkpoint is untouched').toEqual(baseDigest);
    ledger.add(`merge: ${c.name} | exit ${r.code} | ${line}`);
  });

  it('eval and generate refuse the same misfit adapter', async () => {
    const bad = path.join(root, 'bad-adapters', 'shape');
    const e = await runMain(['eval', '--model', base, '--adapter', bad, '--data', data]);
    expectCleanError(e, 2, /q_proj/);
    const g = await runMain(['generate', '--model', base, '--adapter', bad, '--prompt', 'hi', '--max-tokens', '2']);
    expectCleanError(g, 2, /q_proj/);
  });
});
