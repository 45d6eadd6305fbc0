// paths.reliability.test.ts — path safety: outputs land exactly where asked, nothing outside --out, tensor names never become paths.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SafetensorsFile, writeSafetensors } from '@tslora/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCleanError,
  expectRefusedWritingNothing,
  fileDigests,
  listTree,
  makeBaseAndData,
  rawTensors,
  runCli,
  runMain,
  runMainOk,
  tempWorkspace,
  trainArgv,
} from './harness.js';

const ws = tempWorkspace('paths', 'path safety');
const { root, base, data, ledger } = ws;
const adapter = path.join(root, 'adapter');
const EVIL = 'evil-tslora-path-test';

/** Every path under the temp root, its parent and the OS temp dir whose name contains `EVIL`. */
function evilFiles(): string[] {
  const hits = listTree(root).filter((f) => f.includes(EVIL));
  for (const dir of [path.dirname(root), os.tmpdir()])
    for (const f of fs.readdirSync(dir)) if (f.includes(EVIL)) hits.push(path.join(dir, f));
  return hits;
}

beforeAll(async () => {
  await makeBaseAndData(ws, 8);
  await runMainOk(trainArgv({ model: base, data, out: adapter }));
});

describe('outputs are created as given, and only there', () => {
  it('relative --out with missing parents, spaces and non-ASCII: train, merge (trailing slash), init-tiny', async () => {
    const cwd = path.join(root, 'cwd');
    fs.mkdirSync(cwd);
    const baseBefore = fileDigests(base);
    const runs: [string, string[]][] = [
      [
        'runs/with space/ü-run',
        trainArgv({ model: base, data, out: 'runs/with space/ü-run', iters: 2 }, '--save-every', '1'),
      ],
      ['merged/ü', ['merge', '--model', base, '--adapter', adapter, '--out', 'merged/ü/']],
      ['tiny/模型', ['init-tiny', '--out', 'tiny/模型', '--hidden', '32', '--intermediate', '64']],
    ];
    for (const [out, args] of runs) {
      const before = listTree(cwd);
      const r = await runCli(args, { cwd });
      expect(r.code, r.stderr).toBe(0);
      const added = listTree(cwd).filter((f) => !before.includes(f));
      // Only the output and the parents it needed; no temp file or dir left beside it.
      const top = `${out.split('/')[0]}/`;
      expect(added.every((f) => f.startsWith(top))).toBe(true);
      expect(added).toContain(`${out}/`);
      expect(added.filter((f) => !f.startsWith(`${out}/`))).toEqual(
        out
          .split('/')
          .slice(0, -1)
          .map((_, i, a) => `${a.slice(0, i + 1).join('/')}/`),
      );
      expect(added.filter((f) => path.basename(f).startsWith('.') && !f.includes('/.step-'))).toEqual([]);
      ledger.add(
        `relative --out "${out}" (${args[0]}) | exit 0 | created ${cwd}/${out} and its parents only (${added.length} entries)`,
      );
    }
    expect(fs.existsSync(path.join(cwd, 'runs/with space/ü-run/checkpoints/step-2/trainer_state.json'))).toBe(true);
    expect(fileDigests(base), 'the base checkpoint is untouched').toEqual(baseBefore);
  });

  it('--out that is an existing file, or a non-empty directory without --force, is refused and left as it was', async () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'keep me');
    const full = path.join(root, 'full-dir');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'notes.txt'), 'keep me too');
    const cases: [string, string[], RegExp][] = [
      [
        'train --out FILE --force',
        ['train', '--model', base, '--data', data, '--out', file, '--iters', '1', '--force'],
        /a-file exists and is not a directory/,
      ],
      ['init-tiny --out FILE', ['init-tiny', '--out', file], /a-file exists and is not a directory/],
      [
        'merge --out FILE --force',
        ['merge', '--model', base, '--adapter', adapter, '--out', file, '--force'],
        /a-file exists and is not a directory/,
      ],
      [
        'train --out non-empty dir',
        ['train', '--model', base, '--data', data, '--out', full, '--iters', '1'],
        /full-dir exists and is not empty/,
      ],
      ['init-tiny --out non-empty dir', ['init-tiny', '--out', full], /full-dir exists and is not empty/],
    ];
    for (const [name, args, error] of cases) {
      const { r, line } = await expectRefusedWritingNothing(root, args, [error]);
      expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
      expect(fs.readFileSync(path.join(full, 'notes.txt'), 'utf8')).toBe('keep me too');
      ledger.add(`${name} | exit ${r.code} | ${line}`);
    }
  });
});

/** A checkpoint dir beside the base: its config and tokenizer (symlinked) plus the given weight files. */
function checkpointDir(name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
    fs.symlinkSync(path.join(base, f), path.join(dir, f));
  return dir;
}

/** Every tensor of the base as raw bytes, for rewriting under other names or files. */
const baseTensors = () => rawTensors(path.join(base, 'model.safetensors'));

describe('tensor names and index entries never become file paths', () => {
  it(`a base tensor named "../../${EVIL}.safetensors": eval refuses it, merge keeps it as a name inside the file`, async () => {
    const dir = checkpointDir('evil-tensor-name');
    const name = `../../${EVIL}.safetensors`;
    writeSafetensors(path.join(dir, 'model.safetensors'), [
      ...baseTensors(),
      { name, dtype: 'bf16', shape: [2], data: new Uint8Array(4) },
    ]);
    const e = await runMain(['eval', '--model', dir, '--data', data]);
    const line = expectCleanError(e, 2, /unexpected 1/);
    expect(line).toContain(name);
    const out = path.join(root, 'evil-merged');
    const m = await runMain(['merge', '--model', dir, '--adapter', adapter, '--out', out]);
    expect(m.code, m.stderr).toBe(0);
    const st = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    expect(st.has(name)).toBe(true);
    st.close();
    expect(evilFiles()).toEqual([]);
    ledger.add(
      `tensor named "${name}" | eval exit ${e.code} (${line.slice(0, 90)}…); merge exit 0 with the name kept inside model.safetensors | no file created from the name`,
    );
  });

  it(`an adapter key with "../" segments is refused by merge, eval and generate`, async () => {
    const dir = path.join(root, 'evil-adapter');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(adapter, 'adapter_config.json'), path.join(dir, 'adapter_config.json'));
    const tensors = rawTensors(path.join(adapter, 'adapter_model.safetensors'));
    const first = tensors[0] as (typeof tensors)[number];
    first.name = first.name.replace('model.layers.0.', `model.layers.0/../../../../${EVIL}/`);
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
    const lines: string[] = [];
    for (const args of [
      ['merge', '--model', base, '--adapter', dir, '--out', path.join(root, 'evil-adapter-merged')],
      ['eval', '--model', base, '--adapter', dir, '--data', data],
      ['generate', '--model', base, '--adapter', dir, '--prompt', 'hi', '--max-tokens', '2'],
    ]) {
      lines.push((await expectRefusedWritingNothing(root, args, [/adapter_model\.safetensors/])).line);
    }
    expect(evilFiles()).toEqual([]);
    ledger.add(
      `adapter key "${first.name.slice(0, 60)}…" | merge, eval, generate exit 2 | ${(lines[0] as string).slice(0, 140)}…`,
    );
  });

  it('a sharded index whose weight_map points outside the checkpoint (../x, /abs, sub/x) is refused before anything is read or written', async () => {
    const tensors = baseTensors();
    const lines: string[] = [];
    for (const [i, target] of [
      `../${EVIL}.safetensors`,
      `/tmp/${EVIL}.safetensors`,
      `sub/${EVIL}.safetensors`,
    ].entries()) {
      const dir = checkpointDir(`evil-index-${i}`);
      const shard = 'model-00001-of-00001.safetensors';
      writeSafetensors(path.join(dir, shard), tensors);
      const map = Object.fromEntries(tensors.map((t) => [t.name, shard]));
      map['model.norm.weight'] = target;
      fs.writeFileSync(
        path.join(dir, 'model.safetensors.index.json'),
        JSON.stringify({ metadata: { total_size: 1 }, weight_map: map }),
      );
      for (const args of [
        ['eval', '--model', dir, '--data', data],
        ['merge', '--model', dir, '--adapter', adapter, '--out', path.join(root, `evil-index-out-${i}`)],
      ]) {
        const patterns = [/model\.safetensors\.index\.json/, /not a plain file name/];
        const { line } = await expectRefusedWritingNothing(root, args, patterns);
        expect(line).toContain(target);
        lines.push(line);
      }
    }
    expect(evilFiles()).toEqual([]);
    ledger.add(
      `index weight_map → "../x", "/tmp/x", "sub/x" | eval and merge exit 2 ×6 | ${(lines[0] as string).replace(root, '…')}`,
    );
  });
});
