// nn/index.ts — modules.
export { Embedding, Linear, RMSNorm } from './layers.js';
export { Module } from './module.js';
