// commands/explain.test.ts — `finetune explain` end to end: the committed docs regenerate byte for byte,
// bad input exits 2 with nothing written, and a run's report.html links to the page.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '@tslora/core-tensor';
import { applyLora, saveAdapter } from '@tslora/lora';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli.js';
import { createTinyCheckpoint } from '../model/init.js';
import { loadModel } from '../model/load.js';
import { EXPLAIN_MARK } from '../report/explain-link.js';
import { reportHtml } from '../report/html.js';
import { DEMO_BASE } from './explain.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'explain-cmd-'));
const docs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/explain');
const gen = path.join(root, 'gen');
let stderr = '';

beforeAll(async () => {
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    stderr += String(s);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  expect(await main(['explain', '--out', gen])).toBe(0);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('finetune explain', () => {
  it('regenerating docs/explain gives the same bytes (run `pnpm finetune explain --out docs/explain --force`)', () => {
    const want = fs.readdirSync(docs).sort();
    expect(want).toEqual([
      'activations.svg',
      'attention-head.svg',
      'attention-mask.svg',
      'explain.html',
      'lora.svg',
      'vocab.svg',
    ]);
    expect(fs.readdirSync(gen).sort()).toEqual(want);
    for (const f of want)
      expect(fs.readFileSync(path.join(gen, f)).equals(fs.readFileSync(path.join(docs, f))), f).toBe(true);
  });

  it('embeds every figure file in explain.html and leaves no temp dir behind', () => {
    const html = fs.readFileSync(path.join(gen, 'explain.html'), 'utf8');
    for (const f of fs.readdirSync(gen).filter((x) => x.endsWith('.svg'))) {
      const b64 = Buffer.from(fs.readFileSync(path.join(gen, f))).toString('base64');
      expect(html.includes(`data:image/svg+xml;base64,${b64}`), f).toBe(true);
    }
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.gen.tmp'))).toEqual([]);
    const made = /making the tiny demo base in (\S+)/.exec(stderr)?.[1];
    expect(made && fs.existsSync(made)).toBe(false);
  });

  it('bad input exits 2 and writes nothing', async () => {
    const out = path.join(root, 'never');
    stderr = '';
    expect(await main(['explain', '--model', path.join(root, 'missing'), '--out', out])).toBe(2);
    expect(stderr).toMatch(/--model .*missing: directory not found/);
    expect(await main(['explain', '--adapter', path.join(root, 'missing'), '--out', out])).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
    const full = path.join(root, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep.txt'), 'mine');
    stderr = '';
    expect(await main(['explain', '--out', full])).toBe(2);
    expect(stderr).toMatch(/full exists and is not empty/);
    expect(fs.readdirSync(full)).toEqual(['keep.txt']);
    expect(fs.readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('with --adapter of a run: its A and B, loss/LR curves, and report.html links to explain.html', async () => {
    const base = path.join(root, 'base');
    const run = path.join(root, 'run');
    createTinyCheckpoint(base, DEMO_BASE);
    const m = loadModel(base).model;
    const { config } = applyLora(m, { r: 2, alpha: 4, targetModules: ['q_proj'] }, { rng: new Random(1) });
    saveAdapter(run, m, config, { baseModelNameOrPath: base });
    const rows = [1, 2, 3].map((step) => ({
      step,
      loss: 6 - step,
      lr: 1e-3 * step,
      grad_norm: 1,
      tokens: 8,
      tokens_per_s: 1,
      elapsed_s: step,
    }));
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const report = reportHtml({
      title: 'run',
      options: {},
      data: {},
      trainable: 't',
      metrics: rows,
      final: {},
      samples: [],
    });
    expect(report).toContain(EXPLAIN_MARK);
    fs.writeFileSync(path.join(run, 'report.html'), report);
    const out = path.join(run, 'explain');
    // no --model: the adapter's base_model_name_or_path is used
    expect(await main(['explain', '--adapter', run, '--out', out])).toBe(0);
    const html = fs.readFileSync(path.join(out, 'explain.html'), 'utf8');
    expect(html).toContain('<section id="run">');
    expect(html).toContain('are the trained matrices of the adapter (rank 2, lora_alpha 4)');
    expect(fs.readFileSync(path.join(out, 'loss.svg'), 'utf8')).toContain('<svg');
    const linked = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
    expect(linked).not.toContain(EXPLAIN_MARK);
    expect(linked).toContain('<a href="explain/explain.html">explain.html</a>');
    // a second run with --force keeps one link
    expect(await main(['explain', '--adapter', run, '--out', out, '--force'])).toBe(0);
    expect(fs.readFileSync(path.join(run, 'report.html'), 'utf8').split('id="explain-link"').length).toBe(2);
  });

  it('an adapter dir without weights exits 2, writes nothing and leaves report.html alone', async () => {
    const run = path.join(root, 'broken');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'report.html'), EXPLAIN_MARK);
    fs.writeFileSync(
      path.join(run, 'adapter_config.json'),
      JSON.stringify({
        peft_type: 'LORA',
        task_type: 'CAUSAL_LM',
        r: 2,
        lora_alpha: 4,
        lora_dropout: 0,
        target_modules: ['q_proj'],
        bias: 'none',
      }),
    );
    const out = path.join(run, 'explain');
    stderr = '';
    expect(await main(['explain', '--adapter', run, '--out', out])).toBe(2);
    expect(stderr).toMatch(/adapter_model\.safetensors/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readFileSync(path.join(run, 'report.html'), 'utf8')).toBe(EXPLAIN_MARK);
  });
});
