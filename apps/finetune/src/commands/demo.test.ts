// commands/demo.test.ts — the demo in a reduced size, and the reports it leaves behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointReader } from '@tslora/core-tensor';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parse } from 'node-html-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/command.js';
import { demoCommand } from './demo.js';

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'demo-')), 'demo');
const lines: string[] = [];
const io: Io = { json: true, out: (s) => lines.push(s), note: () => {} };
// biome-ignore lint/suspicious/noExplicitAny: the demo summary is JSON read back by the test
let summary: Record<string, any>;

beforeAll(async () => {
  await demoCommand.run({ out, iters: 12, hidden: 32, layers: 1, 'init-std': 0.2, lr: 2e-2, rank: 8, json: true }, io);
  summary = JSON.parse(lines[0] as string);
});

describe('demo (reduced size)', () => {
  it('trains: the loss falls and every artefact is written', () => {
    expect(summary.final_loss).toBeLessThan(summary.first_loss);
    for (const f of [
      'base/model.safetensors',
      'run/adapter_model.safetensors',
      'run/adapter_config.json',
      'run/metrics.jsonl',
      'run/loss.svg',
      'run/report.html',
      'merged/model.safetensors',
      'merged/config.json',
      'merged/tokenizer.json',
      'demo.json',
    ]) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
  });

  it('the merged output has the base keys, shapes and dtypes, and matches base+adapter logits', () => {
    const a = CheckpointReader.open(path.join(out, 'base'));
    const b = CheckpointReader.open(path.join(out, 'merged'));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [n, t] of a.tensors) {
      expect(b.get(n).info.dtype).toBe(t.info.dtype);
      expect(b.get(n).info.shape).toEqual(t.info.shape);
    }
    expect(summary.verify.maxAbsLogitDiff).toBeLessThan(0.02 * summary.verify.maxAbsLogit);
  });

  it('loss.svg is valid SVG with one point per logged step', () => {
    const svg = fs.readFileSync(path.join(out, 'run', 'loss.svg'), 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(svg);
    expect(doc.svg.xmlns).toBe('http://www.w3.org/2000/svg');
    const steps = fs
      .readFileSync(path.join(out, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps).toHaveLength(12);
    const points = svg.match(/class="train-point"/g) ?? [];
    expect(points).toHaveLength(steps.length);
    const val = steps.filter((s) => s.val_loss !== undefined);
    expect((svg.match(/class="val-point"/g) ?? []).length).toBe(val.length);
  });

  it('report.html contains the chart, the final metrics and every logged step', () => {
    const root = parse(fs.readFileSync(path.join(out, 'run', 'report.html'), 'utf8'));
    expect(root.querySelector('#loss-chart svg')).not.toBeNull();
    const final = Object.fromEntries(
      root.querySelectorAll('#final tr').map((tr) => [tr.querySelector('th')?.text, tr.querySelector('td')?.text]),
    );
    expect(Number(final.final_loss)).toBeCloseTo(summary.final_loss, 4);
    expect(root.querySelectorAll('#metrics tbody tr')).toHaveLength(12);
    expect(root.querySelectorAll('.sample').length).toBe(3);
    expect(root.toString()).not.toMatch(/<script|(?:src|href)=["']https?:/); // opens from disk, offline
  });
});
