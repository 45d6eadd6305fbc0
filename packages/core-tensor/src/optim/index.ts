// optim/index.ts — optimizer, learning-rate schedules and gradient clipping.
export { AdamW, type AdamWMeta, type AdamWOptions, type AdamWStateDict } from './adamw.js';
export { clipGradNorm } from './clip.js';
export { lrAt, lrFactor, type ScheduleName, type ScheduleOptions } from './schedule.js';
