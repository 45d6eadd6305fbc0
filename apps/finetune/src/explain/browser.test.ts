// explain/browser.test.ts — explain.html rendered in headless Chromium: every figure loads, nothing errors, nothing goes to the network.
//
// Uses Debian's /usr/bin/chromium through playwright-core (which downloads no browser); `.ci/run`
// installs it with apt-get when missing. Without it the test is skipped, and says so.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '@tslora/core-tensor';
import { applyLora, saveAdapter } from '@tslora/lora';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli.js';
import { DEMO_BASE } from '../commands/explain.js';
import { createTinyCheckpoint } from '../model/init.js';
import { loadModel } from '../model/load.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const hasBrowser = fs.existsSync(CHROMIUM);
const docs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/explain');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'explain-browser-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
if (!hasBrowser) console.warn(`explain browser test skipped: no ${CHROMIUM} (apt-get install chromium)`);

/** The few DOM members the page checks use (this package compiles without the DOM lib). */
interface PageImage {
  complete: boolean;
  naturalWidth: number;
  src: string;
  dataset: { file?: string };
  decode(): Promise<void>;
  getBoundingClientRect(): { width: number; height: number };
}
interface PageDocument {
  images: ArrayLike<PageImage>;
  querySelectorAll(selector: string): { length: number };
}

interface Loaded {
  errors: string[];
  offline: string[];
  images: { file: string; complete: boolean; naturalWidth: number; w: number; h: number; decoded: boolean }[];
  svgs: number;
}

async function render(file: string): Promise<Loaded> {
  const profile = fs.mkdtempSync(path.join(root, 'profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: FLAGS,
    headless: true,
  });
  try {
    const page = await ctx.newPage();
    const errors: string[] = [];
    const offline: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`requestfailed: ${r.url()}`));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      offline.push(url);
      return route.abort();
    });
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    const images = await page.evaluate(async () =>
      Promise.all(
        Array.from((globalThis as unknown as { document: PageDocument }).document.images, async (img) => {
          const decoded = await img.decode().then(
            () => true,
            () => false,
          );
          const r = img.getBoundingClientRect();
          return {
            file: img.dataset.file ?? img.src.slice(0, 40),
            complete: img.complete,
            naturalWidth: img.naturalWidth,
            w: r.width,
            h: r.height,
            decoded,
          };
        }),
      ),
    );
    const svgs = await page.evaluate(
      () => (globalThis as unknown as { document: PageDocument }).document.querySelectorAll('svg').length,
    );
    return { errors, offline, images, svgs };
  } finally {
    await ctx.close();
  }
}

function expectAllLoaded(r: Loaded, dir: string): void {
  expect(r.errors).toEqual([]);
  expect(r.offline).toEqual([]);
  const figures = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.svg'))
    .sort();
  expect(r.images.map((i) => i.file).sort()).toEqual(figures);
  for (const img of r.images) {
    expect(img, img.file).toMatchObject({ complete: true, decoded: true });
    expect(img.naturalWidth, img.file).toBeGreaterThan(0);
    expect(img.w * img.h, img.file).toBeGreaterThan(0);
  }
  expect(r.svgs).toBe(0); // figures are images; an inline <svg> would be a leftover
}

describe.skipIf(!hasBrowser)(
  `explain.html in headless Chromium${hasBrowser ? '' : ` (skipped: no ${CHROMIUM})`}`,
  () => {
    it('docs/explain/explain.html: every figure loads, no errors, no network', async () => {
      expectAllLoaded(await render(path.join(docs, 'explain.html')), docs);
    }, 60_000);

    it('with --adapter of a run: the loss/LR figure loads too', async () => {
      vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      const base = path.join(root, 'base');
      const run = path.join(root, 'run');
      createTinyCheckpoint(base, DEMO_BASE);
      const m = loadModel(base).model;
      const { config } = applyLora(m, { r: 2, alpha: 4, targetModules: ['v_proj'] }, { rng: new Random(1) });
      saveAdapter(run, m, config, { baseModelNameOrPath: base });
      const rows = [1, 2, 3, 4].map((step) => ({
        step,
        loss: 5 / step,
        lr: 1e-3,
        grad_norm: 1,
        tokens: 8,
        tokens_per_s: 1,
        elapsed_s: step,
      }));
      fs.writeFileSync(path.join(run, 'metrics.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      const out = path.join(root, 'page');
      expect(await main(['explain', '--adapter', run, '--out', out])).toBe(0);
      vi.restoreAllMocks();
      const r = await render(path.join(out, 'explain.html'));
      expectAllLoaded(r, out);
      expect(r.images.map((i) => i.file)).toContain('loss.svg');
    }, 120_000);
  },
);
