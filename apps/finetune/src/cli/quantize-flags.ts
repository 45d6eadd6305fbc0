// cli/quantize-flags.ts — `--quantize bf16|int8|int4` and `--q-group-size N`, shared by train, eval and generate.
import { DEFAULT_Q_GROUP_SIZE, QUANTIZE_MODES, type QuantizeMode, type QuantizeOptions } from '../model/frozen-base.js';
import type { FlagSpecs, FlagValues } from './flags.js';
import { usageError } from './flags.js';

export const QUANTIZE_FLAGS: FlagSpecs = {
  quantize: {
    kind: 'string',
    choices: [...QUANTIZE_MODES],
    help: 'keep the frozen projections as bf16, int8 or int4 (QLoRA; default: exact f32)',
  },
  'q-group-size': {
    kind: 'int',
    min: 16,
    max: 256,
    help: `int8/int4 group length along the input dimension (default ${DEFAULT_Q_GROUP_SIZE})`,
  },
};

/** The load options the flags ask for; undefined without --quantize (today's exact f32 path). */
export function quantizeFrom(v: FlagValues): QuantizeOptions | undefined {
  const mode = v.quantize as QuantizeMode | undefined;
  const group = v['q-group-size'] as number | undefined;
  if (mode === undefined) {
    if (group !== undefined) throw usageError('--q-group-size needs --quantize int8 or int4');
    return undefined;
  }
  if (mode === 'bf16' && group !== undefined)
    throw usageError('--q-group-size applies to int8/int4, not to --quantize bf16');
  return { mode, groupSize: group ?? DEFAULT_Q_GROUP_SIZE };
}
