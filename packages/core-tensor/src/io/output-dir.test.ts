// io/output-dir.test.ts — the output transaction and its one recovery rule, at every point a kill can stop replaceDir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TsloraError } from '../errors.js';
import { buildDirAtomically, checkOutDir, DirTransaction, recoverOutput, recoverOutputs } from './output-dir.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-outdir-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshParent = () => {
  const p = path.join(root, `p${n++}`);
  fs.mkdirSync(p);
  return p;
};
function dirWith(p: string, files: Record<string, string>): void {
  fs.mkdirSync(p, { recursive: true });
  for (const [f, t] of Object.entries(files)) fs.writeFileSync(path.join(p, f), t);
}
const contents = (p: string): Record<string, string> =>
  Object.fromEntries(fs.readdirSync(p).map((f) => [f, fs.readFileSync(path.join(p, f), 'utf8')]));

describe('recoverOutputs: the state a kill leaves at each step of replaceDir', () => {
  const OLD = { 'model.safetensors': 'previous output' };
  const NEW = { 'model.safetensors': 'new output' };
  // bystanders: another output's temp dir, this output's lock, a user's own hidden file
  const bystanders = (p: string) => {
    dirWith(path.join(p, '.other.tmp-7-ffff'), { x: 'y' });
    fs.writeFileSync(path.join(p, '.out.lock'), '{}');
    fs.writeFileSync(path.join(p, '.outrc'), 'mine');
  };
  const cases: [string, (p: string, tmp: string) => void, Record<string, string> | null][] = [
    ['while building (fresh output)', (_p, tmp) => dirWith(tmp, { half: 'writ' }), null],
    [
      'while building (over an existing output)',
      (p, tmp) => {
        dirWith(path.join(p, 'out'), OLD);
        dirWith(tmp, { half: 'writ' });
      },
      OLD,
    ],
    [
      'after out → .old, before tmp → out',
      (p, tmp) => {
        dirWith(`${tmp}.old`, OLD);
        dirWith(tmp, NEW);
        expect(fs.existsSync(path.join(p, 'out'))).toBe(false);
      },
      OLD,
    ],
    [
      'after tmp → out, before .old → .trash',
      (p, tmp) => {
        dirWith(`${tmp}.old`, OLD);
        dirWith(path.join(p, 'out'), NEW);
      },
      NEW,
    ],
    [
      'while deleting .trash',
      (p, tmp) => {
        dirWith(`${tmp}.trash`, { 'part-of': 'old' });
        dirWith(path.join(p, 'out'), NEW);
      },
      NEW,
    ],
  ];
  for (const [when, state, expected] of cases) {
    it(`killed ${when}: out is ${expected === null ? 'absent' : 'whole'}, and no temp entry of out is left`, () => {
      const p = freshParent();
      bystanders(p);
      state(p, path.join(p, '.out.tmp-4242-abcd1234'));
      const restored = recoverOutput(path.join(p, 'out'));
      expect(restored).toBe(when.startsWith('after out → .old'));
      if (expected === null) expect(fs.existsSync(path.join(p, 'out'))).toBe(false);
      else expect(contents(path.join(p, 'out'))).toEqual(expected);
      expect(fs.readdirSync(p).sort()).toEqual(
        [...(expected ? ['out'] : []), '.other.tmp-7-ffff', '.out.lock', '.outrc'].sort(),
      );
    });
  }

  it('for a family of names (checkpoints): restores a set-aside step-N, removes every step temp, leaves the rest', () => {
    const p = freshParent();
    dirWith(path.join(p, 'step-2'), { s: '2' });
    dirWith(path.join(p, '.step-3.tmp-1-aaaa.old'), { s: '3' });
    dirWith(path.join(p, '.step-3.tmp-1-aaaa'), { s: '3 new' });
    dirWith(path.join(p, '.step-4.tmp-2'), { s: 'half' }); // older naming, no HEX part
    dirWith(path.join(p, '.notes.tmp-1-bbbb'), { keep: 'yes' });
    const restored = recoverOutputs(p, (name) => /^step-\d+$/.test(name));
    expect(restored).toEqual([path.join(p, 'step-3')]);
    expect(fs.readdirSync(p).sort()).toEqual(['.notes.tmp-1-bbbb', 'step-2', 'step-3']);
    expect(contents(path.join(p, 'step-3'))).toEqual({ s: '3' });
  });
});

describe('DirTransaction and buildDirAtomically', () => {
  it('commit renames the temp dir in; abort leaves out as it was; nothing beside it afterwards', () => {
    const p = freshParent();
    const out = path.join(p, 'a', 'out'); // missing parents are created
    const tx = DirTransaction.begin(out);
    expect(path.basename(tx.tmp)).toMatch(new RegExp(`^\\.out\\.tmp-${process.pid}-[0-9a-f]{8}$`));
    fs.writeFileSync(path.join(tx.tmp, 'f'), '1');
    tx.commit();
    tx.abort(); // no-op after commit
    expect(contents(out)).toEqual({ f: '1' });
    const tx2 = DirTransaction.begin(out);
    fs.writeFileSync(path.join(tx2.tmp, 'f'), '2');
    tx2.abort();
    expect(contents(out)).toEqual({ f: '1' });
    expect(() => tx2.commit()).toThrow(/already finished/);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['out']);
  });

  it('buildDirAtomically: refuses a file and a non-empty dir (unless force), a failing build leaves no trace', () => {
    const p = freshParent();
    const file = path.join(p, 'file');
    fs.writeFileSync(file, 'keep');
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e instanceof TsloraError ? `${e.exitCode}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    expect(code(() => buildDirAtomically(file, () => 0, true))).toBe(
      `2: output path ${file} exists and is not a directory`,
    );
    const out = path.join(p, 'out');
    dirWith(out, { old: 'x' });
    expect(code(() => checkOutDir(out))).toBe(`2: output directory ${out} exists and is not empty`);
    expect(code(() => buildDirAtomically(out, () => 0, false, 'use --force'))).toMatch(/not empty/);
    expect(
      code(() =>
        buildDirAtomically(
          out,
          (tmp) => {
            fs.writeFileSync(path.join(tmp, 'half'), 'h');
            throw new Error('disk full');
          },
          true,
        ),
      ),
    ).toMatch(/disk full/);
    expect(contents(out)).toEqual({ old: 'x' });
    expect(buildDirAtomically(out, (tmp) => fs.writeFileSync(path.join(tmp, 'new'), 'n'), true)).toBeUndefined();
    expect(contents(out)).toEqual({ new: 'n' });
    expect(fs.readdirSync(p).sort()).toEqual(['file', 'out']);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep');
  });
});
