// profile-step.ts — per-phase CPU profile of one tslora LoRA training step (or prefill) at a benchmark shape.
//
// Run: `node --import tsx bench/profile-step.ts [shape=small] [mode=train|infer] [seq=512] [steps=3]`
// (PROFILE_TOP=20 also lists the 20 functions with the most self time; PROFILE_GEMM=1 times every GEMM by shape).
// Builds the model exactly as model-worker.ts does, runs 2 untimed steps, then samples the main thread with
// V8's profiler (node:inspector, 100 µs interval) over `steps` timed steps. Each sample is charged to a phase
// by the innermost frame that belongs to a known file, so a GEMM called from attention counts as GEMM, and
// attention's own row work (softmax, layout copies) as attention. Native onnxruntime time on the main thread
// shows up under the JS function that called the binding (runOrt/runGemm2d → GEMM); ORT's second pool
// thread is not sampled, so "GEMM" is main-thread wall time spent inside GEMM calls — what the step waits.
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { AdamW, type GemmArgs, noGrad, ortBackend, Random, Tensor, useBestBackend } from '@tslora/core-tensor';
import { applyLora } from '@tslora/lora';
import { parseQwenConfig } from '../apps/finetune/src/model/config.js';
import { QwenForCausalLM } from '../apps/finetune/src/model/qwen.js';
import { LORA_TARGETS, SHAPES, type ShapeName, shapeConfigJson } from './model-shapes.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Phase of a frame, or null when the frame says nothing (look further out). Order = precedence. */
const RULES: [string, (fn: string, url: string) => boolean][] = [
  ['GC', (fn) => fn === '(garbage collector)'],
  ['GEMM', (_, url) => url.includes('/backend/')],
  ['cross-entropy rows (lm_head loss)', (_, url) => url.includes('linear-cross-entropy')],
  ['attention row work (softmax, layouts, RoPE)', (_, url) => url.includes('packages/attention/')],
  ['optimizer (AdamW)', (_, url) => url.includes('/optim/')],
  [
    'norms / activations / elementwise',
    (_, url) => /ops\/(norm|activation|unary|binary|broadcast|swiglu|fused)/.test(url),
  ],
  ['reshape/permute copies', (_, url) => url.includes('ops/shape-ops')],
  ['embedding', (_, url) => url.includes('ops/index-ops')],
  ['LoRA op glue (bias, scaling)', (_, url) => url.includes('lora-linear')],
  ['autograd (grad accumulation, tape)', (_, url) => url.includes('autograd') || url.includes('/tensor.ts')],
  ['model glue', (_, url) => url.includes('model/qwen')],
];

function phaseOf(chain: ProfileNode[]): string {
  // chain: leaf first
  for (const n of chain) {
    const { functionName: fn, url } = n.callFrame;
    for (const [name, test] of RULES) if (test(fn, url)) return name;
  }
  const leaf = chain[0]?.callFrame.functionName ?? '';
  if (leaf === '(program)' || leaf === '(idle)') return 'other (VM, idle)';
  return `other (${leaf || 'anonymous'})`;
}

function summarise(p: Profile): { ms: Map<string, number>; fnMs: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseCache = new Map<number, string>();
  const phase = (id: number): string => {
    let ph = phaseCache.get(id);
    if (ph === undefined) {
      const chain: ProfileNode[] = [];
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x) as ProfileNode);
      ph = phaseOf(chain);
      phaseCache.set(id, ph);
    }
    return ph;
  };
  const ms = new Map<string, number>();
  const fnMs = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // timeDeltas[i] is the gap before sample i; charge each gap to the sample that ends it.
  for (let i = 0; i < samples.length; i++) {
    const ph = phase(samples[i] as number);
    ms.set(ph, (ms.get(ph) ?? 0) + (deltas[i] ?? 0) / 1000);
    const f = (byId.get(samples[i] as number) as ProfileNode).callFrame;
    const fn = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}`;
    fnMs.set(fn, (fnMs.get(fn) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  return { ms, fnMs };
}

/** Wraps the ort backend's gemm to time every call, keyed by shape and flags (PROFILE_GEMM=1). */
function timeGemms(): Map<string, { calls: number; ms: number; flops: number }> {
  const stats = new Map<string, { calls: number; ms: number; flops: number }>();
  const inner = ortBackend.gemm.bind(ortBackend);
  ortBackend.gemm = (a: GemmArgs) => {
    const t0 = performance.now();
    const out = inner(a);
    const ms = performance.now() - t0;
    const flags = `${a.transA ? 'T' : 'N'}${a.transB ? 'T' : 'N'}${a.batch && a.batch > 1 ? ` b${a.batch}` : ''}${a.alpha !== undefined && a.alpha !== 1 ? ' α' : ''}${a.beta ? ' β' : ''}`;
    const key = `${a.m}×${a.n}×${a.k} ${flags}`;
    const st = stats.get(key) ?? { calls: 0, ms: 0, flops: 0 };
    st.calls++;
    st.ms += ms;
    st.flops += 2 * (a.batch ?? 1) * a.m * a.n * a.k;
    stats.set(key, st);
    return out;
  };
  return stats;
}

/** Minor page faults of this process so far (/proc/self/stat field 10): first touches of fresh memory. */
function minorFaults(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

function post<T>(s: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) =>
    s.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

async function main(): Promise<void> {
  const [shapeArg = 'small', mode = 'train', seqArg = '512', stepsArg = '3'] = process.argv.slice(2);
  const shape = shapeArg as ShapeName;
  const seq = Number(seqArg);
  const steps = Number(stepsArg);
  const { backend } = useBestBackend();
  const model = new QwenForCausalLM(parseQwenConfig(shapeConfigJson(SHAPES[shape]), `profile:${shape}`));
  const rng = new Random(0);
  for (const [name, p] of model.namedParameters()) {
    if (name.endsWith('norm.weight')) p.f32.fill(1);
    else if (name.endsWith('.bias')) p.f32.fill(0);
    else rng.fillNormal(p.f32, 0, 0.02);
  }
  applyLora(model, { r: 16, alpha: 32, dropout: 0, targetModules: LORA_TARGETS, seed: 0 });
  const idRng = new Random(1);
  const ids = Tensor.int(
    Array.from({ length: seq }, () => idRng.int(model.config.vocabSize)),
    [1, seq],
  );
  const opt = new AdamW(model.trainableParameters(), { lr: 2e-4 });
  if (mode === 'train') model.train();
  else model.eval();
  const step = (): number => {
    if (mode !== 'train') return noGrad(() => model.loss(ids, ids).item());
    const loss = model.loss(ids, ids);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    return loss.item();
  };
  for (let i = 0; i < 2; i++) step();
  const gemmStats = process.env.PROFILE_GEMM ? timeGemms() : undefined;
  // PROFILE_NO_SAMPLER=1: no V8 sampling (its 10 kHz signals slow the main thread's share of every
  // GEMM by a few %), for the GEMM table and step time alone.
  const sampling = !process.env.PROFILE_NO_SAMPLER;
  const s = new Session();
  s.connect();
  await post(s, 'Profiler.enable');
  await post(s, 'Profiler.setSamplingInterval', { interval: 100 });
  if (sampling) await post(s, 'Profiler.start');
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const flt0 = minorFaults();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const faults = minorFaults() - flt0;
  const { profile } = sampling
    ? await post<{ profile: Profile }>(s, 'Profiler.stop')
    : { profile: { nodes: [], samples: [], timeDeltas: [] } as Profile };
  const { ms, fnMs } = summarise(profile);
  const total = [...ms.values()].reduce((a, b) => a + b, 0);
  const wall = times.reduce((a, b) => a + b, 0);
  console.log(
    `${shape} ${mode} seq ${seq}, backend ${backend.name}: ${steps} steps, ${(wall / steps).toFixed(0)} ms/step (${times.map((t) => t.toFixed(0)).join(', ')}), ${((seq * steps * 1000) / wall).toFixed(1)} tok/s`,
  );
  console.log(
    `process CPU per step (all threads): user ${(cpu.user / 1000 / steps).toFixed(0)} ms, system ${(cpu.system / 1000 / steps).toFixed(0)} ms; ${(faults / steps).toFixed(0)} minor page faults/step; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
  );
  console.log('| phase | ms/step | share |\n|---|---|---|');
  for (const [k, v] of [...ms.entries()].sort((a, b) => b[1] - a[1])) {
    if (v / total < 0.002) continue;
    console.log(`| ${k} | ${(v / steps).toFixed(1)} | ${((100 * v) / total).toFixed(1)} % |`);
  }
  if (gemmStats) {
    console.log('\n| GEMM (m×n×k, flags) | calls/step | ms/step | GFLOPS |\n|---|---|---|---|');
    const rows = [...gemmStats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30);
    for (const [key, g] of rows)
      console.log(
        `| ${key} | ${g.calls / steps} | ${(g.ms / steps).toFixed(1)} | ${(g.flops / g.ms / 1e6).toFixed(0)} |`,
      );
  }
  if (process.env.PROFILE_TOP) {
    console.log('\n| function (self time) | ms/step |\n|---|---|');
    const top = [...fnMs.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_TOP));
    for (const [k, v] of top) console.log(`| ${k} | ${(v / steps).toFixed(1)} |`);
  }
  s.disconnect();
}

await main();
