// report.ts — the inspect report as aligned plain-text tables for a terminal (JSON is the report object itself).
import type { InspectReport } from './inspect.js';
import type { AddedTokenInfo, TokenRef } from './load.js';
import type { EmbeddingNorms, NormStats } from './norm-stats.js';

/** Pads every column of `rows` to its widest cell; `indent` prefixes each line. Trailing spaces are trimmed. */
export function alignTable(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, width(cell));
    });
  }
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - width(cell))))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

/** Display width: code points, with CJK and other wide characters counted twice. */
function width(s: string): number {
  let w = 0;
  for (const ch of s)
    w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch)
      ? 2
      : 1;
  return w;
}

const num = (n: number | null): string => (n === null ? '-' : Number.isInteger(n) ? String(n) : n.toPrecision(4));
const tokenRef = (t: TokenRef | null): string =>
  t === null ? 'not set' : `${JSON.stringify(t.content)} (id ${t.id ?? 'not in vocabulary'})`;
const ids = (x: number | number[] | null): string =>
  x === null ? 'not set' : Array.isArray(x) ? `[${x.join(', ')}]` : String(x);

type Rows = string[][];

function tokenizerRows(t: InspectReport['tokenizer']): Rows {
  const added = t.addedTokens;
  const addedText =
    added.length === 0
      ? '0'
      : `${added.length} (ids ${added[0]?.id}..${added.at(-1)?.id}, ${added.filter((a) => a.special).length} special)`;
  return [
    ['model', t.modelType],
    ['BPE vocabulary (model.vocab)', String(t.bpeVocabSize)],
    ['added tokens', addedText],
    ['highest token id', String(t.highestTokenId)],
    [
      'ids used (highest + 1)',
      t.distinctIds === t.usedIds ? String(t.usedIds) : `${t.usedIds} (${t.usedIds - t.distinctIds} undefined)`,
    ],
  ];
}

function modelRows(r: InspectReport): Rows {
  const e = r.embedding;
  return [
    ['config.vocab_size', String(r.config.vocabSize)],
    ['embedding', e === null ? 'no weights found' : `${e.tensor} ${e.dtype} [${e.shape.join(', ')}] in ${e.file}`],
    ['padding rows', `${r.padding.rows}: ${r.padding.reason}`],
    ['lm_head', r.lmHead.note],
  ];
}

function specialTokenRows(s: InspectReport['specialTokens']): Rows {
  return [
    ['', 'tokenizer_config.json', 'generation_config.json', 'used'],
    ['eos', tokenRef(s.eos.tokenizerConfig), ids(s.eos.generationConfig), ids(s.eos.ids)],
    ['pad', tokenRef(s.pad.tokenizerConfig), ids(s.pad.generationConfig), ids(s.pad.id)],
    ['bos', tokenRef(s.bos.tokenizerConfig), ids(s.bos.generationConfig), ids(s.bos.id)],
  ];
}

const FORMAT_NAMES = {
  chatml: 'ChatML (<|im_start|>{role}\\n{content}<|im_end|>\\n)',
  'chatml-like': 'ChatML-like (differs from plain ChatML)',
  other: 'other',
} as const;

function templateRows(c: InspectReport['chatTemplate']): Rows {
  if (c === null) return [['template', 'none (base model or template not shipped)']];
  const thinking = c.thinkingTags
    ? `yes (<think>...</think>)${c.enableThinkingSwitch ? ', enable_thinking switch' : ''}`
    : 'no';
  return [
    ['source', c.origin],
    ['format', FORMAT_NAMES[c.format]],
    ['default system prompt', c.defaultSystemPrompt === null ? 'none' : JSON.stringify(c.defaultSystemPrompt)],
    ['thinking tags', thinking],
    ['tools', c.toolsSupported ? 'yes' : 'no'],
  ];
}

function addedTokenRows(added: readonly AddedTokenInfo[], n: EmbeddingNorms | null): Rows {
  const normOf = (id: number): string[] => {
    if (n === null) return [];
    const a = n.addedTokens.find((x) => x.id === id);
    if (a === undefined) return [''];
    return [
      `${num(a.norm)}${a.ratioToRegularMean === null ? '' : ` (${a.ratioToRegularMean.toFixed(2)}× regular mean)`}`,
    ];
  };
  return [
    ['id', 'content', 'special', ...(n ? ['row L2 norm'] : [])],
    ...added.map((a) => [String(a.id), JSON.stringify(a.content), a.special ? 'yes' : 'no', ...normOf(a.id)]),
  ];
}

function normRows(n: EmbeddingNorms): Rows {
  const stat = (label: string, x: NormStats): string[] => [label, String(x.count), num(x.mean), num(x.min), num(x.max)];
  const rows = [
    ['rows', 'count', 'mean', 'min', 'max'],
    stat('regular (BPE)', n.regular),
    stat('added tokens', n.added),
    stat('padding', n.padding),
  ];
  if (n.undefinedIds.count > 0) rows.push(stat('undefined ids', n.undefinedIds));
  return rows;
}

/** Renders `report` for people: the plain-words summary first, then one aligned table per section. */
export function formatReport(report: InspectReport): string {
  const out: string[] = [`Checkpoint ${report.dir}`, '', report.summary, ''];
  const section = (title: string, rows: Rows): void => {
    out.push(title, alignTable(rows), '');
  };
  section('Tokenizer', tokenizerRows(report.tokenizer));
  section('Model', modelRows(report));
  section('Special tokens', specialTokenRows(report.specialTokens));
  section('Chat template', templateRows(report.chatTemplate));
  section('Added tokens', addedTokenRows(report.tokenizer.addedTokens, report.norms));
  if (report.norms !== null) section(`Embedding row L2 norms (${report.norms.tensor})`, normRows(report.norms));
  if (report.warnings.length > 0)
    section(
      'Warnings',
      report.warnings.map((w) => ['-', w]),
    );
  return `${out.join('\n').trimEnd()}\n`;
}
