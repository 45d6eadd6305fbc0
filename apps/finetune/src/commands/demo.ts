// commands/demo.ts — `finetune demo`: the whole job on the embedded default, end to end, offline.
//
// init-tiny → train LoRA on the bundled capitals task → merge → verify merged == adapter logits →
// generate before/after. Everything lands in --out; the summary says where.
//
// The tiny base is initialised with std 0.2, not HF's 0.02: a random frozen base's final RMSNorm
// pins |h| to √C and the tied embedding rows have norm ≈ std·√C, so no logit can exceed ≈ std·C —
// 1.3 nats at 0.02 and C = 64, against 151936 rivals — and no adapter could teach it anything.
import fs from 'node:fs';
import path from 'node:path';
import { Random, TsloraError } from '@tslora/core-tensor';
import type { Command } from '../cli/command.js';
import { num, str } from '../cli/command.js';
import { withDefaults } from '../cli/flags.js';
import { demoTrainRecords, demoValidRecords, toJsonl } from '../demo/dataset.js';
import { decodableIds, generate } from '../generate.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from '../model/init.js';
import { writeReports } from '../report/write.js';
import { openSession } from '../session.js';
import { TRAIN_FLAGS, type TrainOptions } from '../train/options.js';
import { mergeCommand, verifyMerge } from './merge.js';
import { runTrain } from './train.js';
import { resolveTrainOptions } from './train-options.js';

const SAMPLE_PROMPTS = [
  'What is the capital of France?',
  'What is the capital of Japan?',
  'What is the capital of Kenya?',
];

function sampleAnswers(
  modelDir: string,
  adapterDir: string | undefined,
  maxTokens: number,
): { prompt: string; output: string }[] {
  const s = openSession(modelDir, adapterDir);
  return SAMPLE_PROMPTS.map((prompt) => {
    const ids = s.tokenizer.applyChatTemplateIds([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    const out = generate(s.model, ids, {
      maxTokens,
      temperature: 0,
      topP: 1,
      rng: new Random(0),
      eosTokenIds: [...s.tokenizer.eosTokenIds, ...s.config.eosTokenId],
      vocab: decodableIds(s.tokenizer),
    });
    return { prompt, output: s.tokenizer.decode(out, { skipSpecialTokens: true }) };
  });
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'init-tiny → train LoRA on a bundled task → merge → verify → generate, in a few minutes offline',
  flags: {
    out: { kind: 'string', default: 'tslora-demo', help: 'output directory (replaced if it holds an earlier demo)' },
    iters: { kind: 'int', min: 1, default: 300, help: 'training steps' },
    hidden: { kind: 'int', min: 8, default: 64, help: 'hidden size of the tiny model' },
    layers: { kind: 'int', min: 1, default: 2, help: 'decoder layers of the tiny model' },
    'init-std': {
      kind: 'number',
      min: 0,
      exclusiveMin: true,
      default: 0.2,
      help: "init std of the tiny base (HF uses 0.02; a random base that small can't express a confident answer)",
    },
    lr: { kind: 'number', min: 0, exclusiveMin: true, default: 1e-2, help: 'peak learning rate' },
    rank: { kind: 'int', min: 1, default: 16, help: 'LoRA rank' },
    countries: { kind: 'int', min: 1, max: 32, default: 16, help: 'facts in the bundled task (country → capital)' },
    json: { kind: 'boolean', help: 'print one JSON summary' },
  },
  async run(v, io) {
    const out = path.resolve(str(v, 'out'));
    if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && !fs.existsSync(path.join(out, 'demo.json'))) {
      throw new TsloraError(`${out} exists, is not empty and is not an earlier demo`, {
        hint: 'pass --out a new directory',
        exitCode: 2,
      });
    }
    fs.rmSync(out, { recursive: true, force: true });
    const dirs = {
      base: path.join(out, 'base'),
      data: path.join(out, 'data'),
      run: path.join(out, 'run'),
      merged: path.join(out, 'merged'),
    };
    const t0 = performance.now();
    io.note(`1/5 init-tiny → ${dirs.base}`);
    createTinyCheckpoint(dirs.base, {
      ...TINY_DEFAULTS,
      hidden: num(v, 'hidden'),
      layers: num(v, 'layers'),
      heads: 4,
      kvHeads: 2,
      intermediate: num(v, 'hidden') * 3,
      initStd: num(v, 'init-std'),
    });
    fs.mkdirSync(dirs.data, { recursive: true });
    fs.writeFileSync(path.join(dirs.data, 'train.jsonl'), toJsonl(demoTrainRecords(4, num(v, 'countries'))));
    fs.writeFileSync(path.join(dirs.data, 'valid.jsonl'), toJsonl(demoValidRecords(num(v, 'countries'))));
    io.note(`2/5 train LoRA (${num(v, 'iters')} steps) → ${dirs.run}`);
    const before = sampleAnswers(dirs.base, undefined, 12);
    const o: TrainOptions = resolveTrainOptions(
      withDefaults(
        'train',
        {
          model: dirs.base,
          data: dirs.data,
          out: dirs.run,
          iters: num(v, 'iters'),
          rank: num(v, 'rank'),
          alpha: 2 * num(v, 'rank'),
          lr: num(v, 'lr'),
          warmup: 10,
          'batch-size': 8,
          'mask-prompt': true,
          'eval-every': 25,
          'save-every': 50,
          'max-seq-len': 64,
        },
        TRAIN_FLAGS,
      ),
    );
    const r = await runTrain(o, { ...io, note: (s) => io.note(`  ${s}`) });
    io.note(`3/5 merge → ${dirs.merged}`);
    await mergeCommand.run(
      { model: dirs.base, adapter: dirs.run, out: dirs.merged, dtype: 'auto', json: false },
      { ...io, out: (s) => io.note(`  ${s}`) },
    );
    io.note('4/5 verify merged logits == base+adapter logits');
    const verify = verifyMerge(dirs.base, dirs.run, dirs.merged);
    io.note(
      `  max |Δlogit| ${verify.maxAbsLogitDiff.toExponential(2)} (bf16 rounding of the merged weights; max |logit| ${verify.maxAbsLogit.toFixed(2)})`,
    );
    io.note('5/5 generate');
    const after = sampleAnswers(dirs.base, dirs.run, 12);
    const first = r.metrics[0]?.loss ?? Number.NaN;
    writeReports(dirs.run, {
      title: 'tslora demo: LoRA on a tiny Qwen2',
      options: { ...o },
      data: { train_samples: 4 * num(v, 'countries'), valid_samples: Math.min(12, num(v, 'countries')) },
      trainable: `${r.trainable.toLocaleString('en-US')} trainable parameters`,
      metrics: r.metrics,
      final: {
        first_loss: first,
        final_loss: r.finalLoss,
        val_loss: r.valLoss,
        merge_max_abs_logit_diff: verify.maxAbsLogitDiff,
      },
      samples: after,
      baselineVal: r.baselineVal,
      started: r.started,
    });
    const summary = {
      out,
      ...dirs,
      first_loss: first,
      final_loss: r.finalLoss,
      val_loss: r.valLoss,
      verify,
      before,
      after,
      seconds: (performance.now() - t0) / 1000,
    };
    fs.writeFileSync(path.join(out, 'demo.json'), `${JSON.stringify(summary, null, 2)}\n`);
    if (verify.maxAbsLogitDiff > 0.05 * Math.max(1, verify.maxAbsLogit)) {
      throw new TsloraError(`merged logits differ from base+adapter by ${verify.maxAbsLogitDiff}`, { exitCode: 1 });
    }
    if (io.json) return void io.out(JSON.stringify(summary));
    io.out(
      `\nloss ${first.toFixed(3)} → ${r.finalLoss.toFixed(3)}${r.valLoss === undefined ? '' : ` (validation ${r.valLoss.toFixed(3)})`} in ${r.steps} steps`,
    );
    for (let i = 0; i < after.length; i++)
      io.out(
        `  ${after[i]?.prompt}\n    before: ${JSON.stringify(before[i]?.output)}\n    after:  ${JSON.stringify(after[i]?.output)}`,
      );
    io.out(
      `\nwrote ${out}:\n  base/    tiny random Qwen2 checkpoint (bf16, real Qwen tokenizer)\n  data/    the bundled train/valid JSONL\n  run/     adapter_config.json, adapter_model.safetensors, checkpoints/, metrics.jsonl, loss.svg, report.html\n  merged/  merged checkpoint (bf16), loadable by transformers as is\n  demo.json  this summary\n(${summary.seconds.toFixed(0)} s)`,
    );
  },
};
