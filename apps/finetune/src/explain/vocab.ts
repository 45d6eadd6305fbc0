// explain/vocab.ts — section 3: why the embedding has more rows than the tokenizer has tokens (tokenizer-inspect's report, drawn).
import { type InspectReport, inspectCheckpoint, type NormStats } from '@tslora/tokenizer-inspect';
import { esc, fmt, type Section } from './section.js';

/** One id range of the embedding: [from, to) and its row-norm statistics. */
export interface IdRange {
  name: string;
  from: number;
  to: number;
  /** Rows in the range that this kind covers (undefined ids may be scattered). */
  count: number;
  norms: NormStats | null;
  color: string;
}

/** BPE, added/special, unused ids, padding: their counts add up to the embedding's rows. */
export function idRanges(r: InspectReport): IdRange[] {
  const added = r.tokenizer.addedTokens.map((t) => t.id);
  const firstAdded = added.length ? Math.min(...added) : r.tokenizer.usedIds;
  const unused = r.tokenizer.usedIds - r.tokenizer.distinctIds;
  const n = r.norms;
  const ranges: IdRange[] = [
    {
      name: 'BPE tokens',
      from: 0,
      to: r.tokenizer.bpeVocabSize,
      count: r.tokenizer.bpeVocabSize,
      norms: n?.regular ?? null,
      color: '#4c78a8',
    },
    {
      name: 'added / special tokens',
      from: firstAdded,
      to: r.tokenizer.usedIds,
      count: added.length,
      norms: n?.added ?? null,
      color: '#f58518',
    },
  ];
  if (unused > 0)
    ranges.push({
      name: 'ids no token uses',
      from: firstAdded,
      to: r.tokenizer.usedIds,
      count: unused,
      norms: n?.undefinedIds ?? null,
      color: '#bab0ac',
    });
  ranges.push({
    name: 'padding rows',
    from: r.tokenizer.usedIds,
    to: r.rows,
    count: r.rows - r.tokenizer.usedIds,
    norms: n?.padding ?? null,
    color: '#e45756',
  });
  return ranges;
}

const W = 760;
const BAR = 28;

/** Two bars (all rows, then the last ids zoomed) and, when norms were read, mean row norm per range. */
export function vocabSvg(r: InspectReport, ranges: IdRange[]): string {
  const L = 20;
  const span = W - 2 * L;
  const bar = (y: number, lo: number, hi: number, label: string): string[] => {
    const sx = (id: number) => L + ((Math.min(Math.max(id, lo), hi) - lo) / (hi - lo)) * span;
    const out = [`<text x="${L}" y="${y - 6}">${esc(label)}</text>`];
    for (const g of ranges) {
      if (g.name === 'ids no token uses') continue;
      const x0 = sx(g.from);
      const w = Math.max(sx(g.to) - x0, g.to > lo && g.from < hi ? 1 : 0);
      out.push(`<rect x="${x0.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${BAR}" fill="${g.color}"/>`);
    }
    out.push(
      `<rect x="${L}" y="${y}" width="${span}" height="${BAR}" fill="none" stroke="#333"/>`,
      `<text x="${L}" y="${y + BAR + 14}">${lo.toLocaleString('en-US')}</text>`,
      `<text x="${L + span}" y="${y + BAR + 14}" text-anchor="end">${hi.toLocaleString('en-US')}</text>`,
    );
    return out;
  };
  const zoomFrom = Math.max(0, Math.floor((ranges[0]?.to ?? 0) - (r.rows - (ranges[0]?.to ?? 0)) * 0.25));
  const parts = [
    ...bar(44, 0, r.rows, `all ${r.rows.toLocaleString('en-US')} embedding rows (config.vocab_size)`),
    ...bar(120, zoomFrom, r.rows, `zoom: ids ${zoomFrom.toLocaleString('en-US')} to ${r.rows.toLocaleString('en-US')}`),
  ];
  let y = 196;
  const maxNorm = Math.max(...ranges.map((g) => g.norms?.max ?? 0), 1e-12);
  for (const g of ranges) {
    parts.push(
      `<rect x="${L}" y="${y - 10}" width="12" height="12" fill="${g.color}"/>`,
      `<text x="${L + 18}" y="${y}">${esc(g.name)}: ${g.count.toLocaleString('en-US')} rows</text>`,
    );
    if (g.norms && g.norms.mean !== null) {
      const bw = (v: number) => ((v / maxNorm) * (span - 330)).toFixed(2);
      parts.push(
        `<rect x="${L + 320}" y="${y - 10}" width="${bw(g.norms.mean)}" height="12" fill="${g.color}" opacity="0.8"/>`,
        `<line x1="${(L + 320 + Number(bw(g.norms.min as number))).toFixed(2)}" x2="${(L + 320 + Number(bw(g.norms.max as number))).toFixed(2)}" y1="${y - 4}" y2="${y - 4}" stroke="#222"/>`,
        `<text x="${L + 250}" y="${y}">‖row‖ ${fmt(g.norms.mean)}</text>`,
      );
    }
    y += 22;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>Embedding rows by id range: BPE, added tokens, padding</title>`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    ...parts,
    r.norms ? `<text x="${L + 320}" y="${186 - 8}">mean L2 norm per row (line: min to max)</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

export function vocabSection(modelDir: string): Section {
  const r = inspectCheckpoint(modelDir, { withNorms: true });
  const ranges = idRanges(r);
  const pad = ranges.find((g) => g.name === 'padding rows') as IdRange;
  const reg = ranges[0]?.norms?.mean;
  // A trained model's padding rows keep their init (Qwen2.5's are near zero); a random base has every row alike.
  const padNote =
    pad.norms?.mean == null || reg == null
      ? ''
      : pad.norms.mean < 0.5 * reg
        ? ` Here the padding rows have mean norm ${fmt(pad.norms.mean)} against ${fmt(reg)} for BPE rows: no token ever selects them, so training never moved them.`
        : ` Here the padding rows have mean norm ${fmt(pad.norms.mean)} and the BPE rows ${fmt(reg)}: this base is freshly initialised, so every row is still random. In a trained model the padding rows keep their initial values, since no token ever selects them.`;
  return {
    id: 'vocab',
    title: '3. Vocabulary vs embedding rows',
    paragraphs: [
      `The tokenizer knows ${r.tokenizer.bpeVocabSize.toLocaleString('en-US')} byte-level BPE tokens (ids 0 to ${(r.tokenizer.bpeVocabSize - 1).toLocaleString('en-US')}) and ${r.tokenizer.addedTokens.length} added tokens such as <|endoftext|> and <|im_start|>, so its highest id is ${r.tokenizer.highestTokenId.toLocaleString('en-US')}. The embedding has ${r.rows.toLocaleString('en-US')} rows (config.vocab_size): ${pad.count.toLocaleString('en-US')} rows no token can reach.`,
      `${r.padding.reason}.${padNote} Logits are sized from config.vocab_size, never from the tokenizer.`,
    ],
    figures: [{ file: 'vocab.svg', alt: 'embedding rows by id range, with row norms', svg: vocabSvg(r, ranges) }],
    table: {
      head: ['range', 'ids', 'rows', 'mean ‖row‖', 'min', 'max'],
      rows: ranges.map((g) => [
        g.name,
        `${g.from.toLocaleString('en-US')}–${(g.to - 1).toLocaleString('en-US')}`,
        g.count,
        g.norms?.mean != null ? fmt(g.norms.mean) : '—',
        g.norms?.min != null ? fmt(g.norms.min) : '—',
        g.norms?.max != null ? fmt(g.norms.max) : '—',
      ]),
    },
    numbers: {
      vocab_size: r.rows,
      bpe_tokens: r.tokenizer.bpeVocabSize,
      added_tokens: r.tokenizer.addedTokens.length,
      highest_token_id: r.tokenizer.highestTokenId,
      ranges: ranges.map(({ color: _c, ...g }) => g),
    },
  };
}
