// pack.test.ts — packs every publishable package, installs the tarballs with npm outside the workspace, loads them with node.
//
// This is what a user of the published packages gets, so it catches what source-resolved tests cannot: an `exports`
// path that points nowhere, a file missing from `files`, a `workspace:` range left unrewritten, a dependency that is
// only present through the workspace, a `bin` without its shebang. It builds first (turbo, cached).
import { type ExecFileSyncOptions, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  exports?: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
}

interface Packed {
  dir: string;
  manifest: Manifest;
  tarball: string;
  files: string[];
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** Publishable workspace packages: every packages/* and apps/* folder with a non-private package.json. */
function publishableDirs(): string[] {
  return ['packages', 'apps']
    .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .filter((dir) => readJson<Manifest>(join(dir, 'package.json')).private !== true);
}

function run(cmd: string, args: string[], opts: ExecFileSyncOptions): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }) as string;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${String(opts.cwd)}:\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

/** The subpaths of `exports` a consumer can import (patterns and ./package.json aside). */
function entrySubpaths(manifest: Manifest): string[] {
  return Object.keys(manifest.exports ?? {}).filter((key) => key !== './package.json' && !key.includes('*'));
}

let tmp: string;
let consumer: string;
const packed: Packed[] = [];

beforeAll(() => {
  run('pnpm', ['run', 'build'], { cwd: root, env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' } });
  tmp = mkdtempSync(join(tmpdir(), 'tslora-pack-'));
  const tarballs = join(tmp, 'tarballs');
  for (const dir of publishableDirs()) {
    const out = run('pnpm', ['pack', '--json', '--pack-destination', tarballs], { cwd: dir });
    const info = JSON.parse(out) as { filename: string; files: { path: string }[] };
    packed.push({
      dir,
      manifest: readJson<Manifest>(join(dir, 'package.json')),
      tarball: info.filename,
      files: info.files.map((f) => f.path),
    });
  }
  // A consumer project outside the workspace, installed by npm (not pnpm) so no workspace linking can help.
  consumer = join(tmp, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // --ignore-scripts: onnxruntime-node's postinstall only fetches optional GPU providers.
  const npmArgs = ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'];
  run('npm', [...npmArgs, ...packed.map((p) => p.tarball)], { cwd: consumer, timeout: 540_000 });
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('packed packages', () => {
  it('finds the five publishable packages', () => {
    expect(packed.map((p) => p.manifest.name).sort()).toEqual([
      '@tslora/attention',
      '@tslora/core-tensor',
      '@tslora/finetune',
      '@tslora/lora',
      '@tslora/tokenizer-inspect',
    ]);
  });

  it('ship dist, README and package.json only (no sources, no tests)', () => {
    for (const p of packed) {
      const unexpected = p.files.filter((f) => !f.startsWith('dist/') && f !== 'package.json' && f !== 'README.md');
      expect(unexpected, p.manifest.name).toEqual([]);
      expect(
        p.files.filter((f) => /\.test\.|\.bench\./.test(f)),
        p.manifest.name,
      ).toEqual([]);
      expect(p.files, p.manifest.name).toContain('README.md');
    }
  });

  it('rewrite workspace: ranges to real versions', () => {
    for (const p of packed) {
      const installed = readJson<Manifest>(join(consumer, 'node_modules', p.manifest.name, 'package.json'));
      for (const [dep, range] of Object.entries(installed.dependencies ?? {})) {
        expect(range, `${p.manifest.name} -> ${dep}`).not.toMatch(/^workspace:/);
      }
    }
  });

  it('import every exports entry with plain node, and its types file exists', () => {
    const withEntries = packed.filter((p) => entrySubpaths(p.manifest).length > 0);
    expect(withEntries.length).toBeGreaterThanOrEqual(4);
    for (const p of withEntries) {
      for (const sub of entrySubpaths(p.manifest)) {
        const specifier = sub === '.' ? p.manifest.name : `${p.manifest.name}${sub.slice(1)}`;
        const script = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`;
        const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
          cwd: consumer,
          encoding: 'utf8',
        });
        expect(res.status, `import ${specifier}: ${res.stderr}`).toBe(0);
        expect((JSON.parse(res.stdout) as string[]).length, `${specifier} exports nothing`).toBeGreaterThan(0);

        const target = p.manifest.exports?.[sub];
        const types = typeof target === 'object' ? target.types : undefined;
        expect(types, `${specifier} has no "types" condition`).toBeDefined();
        expect(Object.keys(target as object)[0], `${specifier}: "types" must come first`).toBe('types');
        expect(
          existsSync(join(consumer, 'node_modules', p.manifest.name, types as string)),
          `${specifier} ${types}`,
        ).toBe(true);
      }
    }
  });

  it('run every bin from node_modules/.bin', () => {
    const bins = packed.flatMap((p) => Object.keys(p.manifest.bin ?? {}));
    expect(bins).toContain('finetune');
    for (const bin of bins) {
      const res = spawnSync(join(consumer, 'node_modules', '.bin', bin), ['--help'], {
        cwd: consumer,
        encoding: 'utf8',
      });
      expect(res.status, `${bin} --help: ${res.stderr}`).toBe(0);
      expect(res.stdout).toContain(`usage: ${bin}`);
    }
  });
});
