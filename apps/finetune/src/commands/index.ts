// commands/index.ts — the command table of DESIGN §7, in the order a user meets them.
import type { Command } from '../cli/command.js';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { explainCommand } from './explain.js';
import { exportCommand } from './export.js';
import { generateCommand } from './generate.js';
import { initTiny } from './init-tiny.js';
import { inspectCommand } from './inspect.js';
import { mergeCommand } from './merge.js';
import { trainCommand } from './train.js';

export const COMMANDS: readonly Command[] = [
  initTiny,
  trainCommand,
  mergeCommand,
  exportCommand,
  evalCommand,
  generateCommand,
  inspectCommand,
  demoCommand,
  explainCommand,
];
