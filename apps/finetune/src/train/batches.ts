// train/batches.ts — an endless, resumable stream of training batches, reproducible from the seed.
//
// Epoch e is planned with Random(seed + e): resuming needs only (epoch, cursor), never a saved plan.
import { Random } from '@tslora/core-tensor';
import { type Batch, collate, planBatches } from '../data/batch.js';
import type { Example } from '../data/format.js';

export class BatchStream {
  epoch: number;
  cursor: number;
  private plan: number[][];

  constructor(
    private readonly examples: readonly Example[],
    private readonly batchSize: number,
    private readonly padId: number,
    private readonly seed: number,
    position: { epoch: number; cursor: number } = { epoch: 0, cursor: 0 },
  ) {
    this.epoch = position.epoch;
    this.cursor = position.cursor;
    this.plan = this.planFor(this.epoch);
  }

  /** Batches per epoch. */
  get length(): number {
    return this.plan.length;
  }

  private planFor(epoch: number): number[][] {
    return planBatches(this.examples, this.batchSize, new Random(this.seed + epoch));
  }

  next(): Batch {
    if (this.cursor >= this.plan.length) {
      this.epoch++;
      this.cursor = 0;
      this.plan = this.planFor(this.epoch);
    }
    const group = this.plan[this.cursor++] as number[];
    return collate(
      group.map((i) => this.examples[i] as Example),
      this.padId,
    );
  }
}
