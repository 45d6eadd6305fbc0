// nn/index.ts — modules.

export { frozenLinear } from './frozen-linear.js';
export { Embedding, Linear, RMSNorm } from './layers.js';
export { Module } from './module.js';
