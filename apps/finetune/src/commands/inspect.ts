// commands/inspect.ts — `finetune inspect`: config, parameter counts, tokenizer vs embedding, LoRA share.
import { CheckpointReader, numel } from '@tslora/core-tensor';
import { applyLora, trainableReport } from '@tslora/lora';
import { formatReport, inspectCheckpoint } from '@tslora/tokenizer-inspect';
import type { Command } from '../cli/command.js';
import { bool, optStr, str } from '../cli/command.js';
import { readConfig } from '../model/load.js';
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
    if (io.json) {
      io.out(JSON.stringify({ config: summary, tokenizer, ...(lora ? { lora } : {}) }));
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
  },
};
