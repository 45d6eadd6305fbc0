// commands/inspect.ts — `finetune inspect`: config, parameter counts, tokenizer vs embedding, LoRA share.
import { CheckpointReader, numel } from '@tslora/core-tensor';
import { applyLora, trainableReport } from '@tslora/lora';
import { formatReport, inspectCheckpoint } from '@tslora/tokenizer-inspect';
import type { Command } from '../cli/command.js';
import { bool, optStr, str } from '../cli/command.js';
import { QUANTIZE_FLAGS, quantizeFrom } from '../cli/quantize-flags.js';
import { readConfig } from '../model/load.js';
import { formatPlan, memoryPlan } from '../model/memory-plan.js';
import { QwenForCausalLM } from '../model/qwen.js';
import { parseTargets } from './targets.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'config summary, parameter counts, tokenizer vs embedding report, LoRA trainable share',
  flags: {
    model: { kind: 'string', required: true, help: 'checkpoint directory' },
    rank: { kind: 'int', min: 1, help: 'with --targets: report the LoRA trainable parameters at this rank' },
    targets: { kind: 'string', help: 'LoRA targets: all-linear or a comma list (q_proj,v_proj,…)' },
    norms: { kind: 'boolean', default: true, help: 'embedding row-norm statistics (reads the embedding)' },
    json: { kind: 'boolean', help: 'print one JSON object' },
    // the memory plan (printed with --quantize or --plan): what a LoRA run of this model would hold
    plan: { kind: 'boolean', help: 'print the memory plan of a LoRA run (implied by --quantize)' },
    ...QUANTIZE_FLAGS,
    'seq-len': { kind: 'int', min: 1, default: 512, help: 'memory plan: tokens per sequence' },
    'batch-size': { kind: 'int', min: 1, default: 1, help: 'memory plan: sequences per micro-batch' },
    'grad-checkpoint': { kind: 'boolean', default: false, help: 'memory plan: with --grad-checkpoint' },
  },
  run(v, io) {
    const dir = str(v, 'model');
    const config = readConfig(dir);
    const reader = CheckpointReader.open(dir);
    // A tied checkpoint may still store lm_head.weight; it is the embedding, counted once.
    const stored = [...reader.tensors.entries()]
      .filter(([name]) => !(config.tieWordEmbeddings && name === 'lm_head.weight'))
      .reduce((s, [, t]) => s + numel(t.info.shape), 0);
    const dtypes = [...new Set([...reader.tensors.values()].map((t) => t.info.dtype))];
    reader.close();
    const tokenizer = inspectCheckpoint(dir, { withNorms: bool(v, 'norms') });
    const summary = {
      model_type: config.modelType,
      hidden_size: config.hiddenSize,
      num_hidden_layers: config.numHiddenLayers,
      num_attention_heads: config.numAttentionHeads,
      num_key_value_heads: config.numKeyValueHeads,
      head_dim: config.headDim,
      intermediate_size: config.intermediateSize,
      vocab_size: config.vocabSize,
      tie_word_embeddings: config.tieWordEmbeddings,
      rope_theta: config.ropeTheta,
      dtype: dtypes.join('+'),
      parameters: stored,
    };
    let lora: ReturnType<typeof trainableReport> | undefined;
    const rank = v.rank as number | undefined;
    const targets = optStr(v, 'targets');
    if (rank !== undefined || targets !== undefined) {
      // The structure only: weights are not read, parameter counts depend on shapes alone.
      const model = new QwenForCausalLM(config);
      applyLora(model, { r: rank ?? 8, alpha: 2 * (rank ?? 8), targetModules: parseTargets(targets ?? 'all-linear') });
      lora = trainableReport(model);
    }
    const quantize = quantizeFrom(v);
    const planOpts = {
      quantize,
      rank: rank ?? 16,
      seqLen: v['seq-len'] as number,
      batchSize: v['batch-size'] as number,
      gradCheckpoint: bool(v, 'grad-checkpoint'),
    };
    const plan = quantize || bool(v, 'plan') ? memoryPlan(config, planOpts) : undefined;
    if (io.json) {
      io.out(JSON.stringify({ config: summary, tokenizer, ...(lora ? { lora } : {}), ...(plan ? { plan } : {}) }));
      return;
    }
    const w = Math.max(...Object.keys(summary).map((k) => k.length));
    io.out(
      [
        'config',
        ...Object.entries(summary).map(
          ([k, val]) => `  ${k.padEnd(w)}  ${typeof val === 'number' ? val.toLocaleString('en-US') : String(val)}`,
        ),
      ].join('\n'),
    );
    io.out('');
    io.out(formatReport(tokenizer));
    if (lora) io.out(`\nLoRA (r=${rank ?? 8}, targets ${targets ?? 'all-linear'}): ${lora.text}`);
    if (plan) io.out(`\n${formatPlan(plan, planOpts)}`);
  },
};
