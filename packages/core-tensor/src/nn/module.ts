// nn/module.ts — Module: a tree of named parameters and submodules discovered from its fields.
//
// As in PyTorch, a field holding a Tensor is a parameter, a field holding a Module (or an array of
// Modules) is a child; names join with '.' (`layers.0.self_attn.q_proj.weight`), so a checkpoint's
// keys map onto the tree verbatim. Fields whose names start with '_' are private state, not parameters.
import { TsloraError } from '../errors.js';
import { shapeEq, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export abstract class Module {
  /** Training mode switches dropout on; eval() turns it off. */
  _training = true;

  /** Direct children: [name, value] for Tensor parameters and Module children, in field order. */
  private ownEntries(): [string, Tensor | Module][] {
    const out: [string, Tensor | Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith('_')) continue;
      if (v instanceof Tensor || v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v)) {
        for (const [i, m] of v.entries()) if (m instanceof Module) out.push([`${k}.${i}`, m]);
      }
    }
    return out;
  }

  /** Every module in the tree with its dotted path ('' for this one), parents first. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, v] of this.ownEntries()) {
      if (v instanceof Module) out.push(...v.namedModules(prefix ? `${prefix}.${k}` : k));
    }
    return out;
  }

  /**
   * Every parameter with its dotted name. A tensor reachable twice (tied lm_head/embed_tokens) is
   * listed once, under its first name — as PyTorch's named_parameters() does.
   */
  namedParameters(prefix = ''): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    const walk = (m: Module, p: string): void => {
      for (const [k, v] of m.ownEntries()) {
        const name = p ? `${p}.${k}` : k;
        if (v instanceof Module) walk(v, name);
        else if (!seen.has(v)) {
          seen.add(v);
          out.push([name, v]);
        }
      }
    };
    walk(this, prefix);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters that will receive gradients. */
  trainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, t]) => t.requiresGrad);
  }

  /** Stops gradients for every parameter (frozen base weights compute no dW at all). */
  freeze(): this {
    for (const t of this.parameters()) t.requiresGrad = false;
    return this;
  }

  unfreeze(): this {
    for (const t of this.parameters()) t.requiresGrad = true;
    return this;
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m._training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** The submodule at a dotted path, or undefined. */
  getSubmodule(path: string): Module | undefined {
    return this.namedModules().find(([n]) => n === path)?.[1];
  }

  /** Replaces the child at a dotted path (how LoRA wraps a Linear in place). */
  setSubmodule(path: string, m: Module): void {
    const dot = path.lastIndexOf('.');
    const key = path.slice(dot + 1);
    if (/^\d+$/.test(key)) {
      // path "layers.3": an element of an array field (its parent "layers" is an array, not a module)
      throw new TsloraError(`setSubmodule: "${path}" names a list element; replace the list entry's children instead`);
    }
    const parent = dot < 0 ? this : this.getSubmodule(path.slice(0, dot));
    if (!parent) throw new TsloraError(`setSubmodule: no module at "${path.slice(0, dot)}"`);
    const rec = parent as unknown as Record<string, unknown>;
    if (!(rec[key] instanceof Module)) throw new TsloraError(`setSubmodule: "${path}" is not a module`);
    rec[key] = m;
  }

  /** name → parameter (tied tensors appear under their first name only). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies tensors into the parameters by name. Strict mode refuses missing, unexpected and
   * mis-shaped entries, listing all of them in one error so a user sees the whole mismatch at once.
   */
  loadStateDict(
    sd: Map<string, Tensor> | Record<string, Tensor>,
    opts: { strict?: boolean; source?: string } = {},
  ): void {
    const strict = opts.strict ?? true;
    const entries = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const params = new Map(this.namedParameters());
    const missing = [...params.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !params.has(k));
    const misshaped: string[] = [];
    for (const [k, t] of entries) {
      const p = params.get(k);
      if (p && !shapeEq(p.shape, t.shape))
        misshaped.push(`${k}: expected ${shapeStr(p.shape)}, got ${shapeStr(t.shape)}`);
    }
    const problems = [
      ...(misshaped.length ? [`mis-shaped: ${misshaped.join('; ')}`] : []),
      ...(strict && missing.length ? [`missing: ${missing.join(', ')}`] : []),
      ...(strict && unexpected.length ? [`unexpected: ${unexpected.join(', ')}`] : []),
    ];
    if (problems.length) {
      throw new TsloraError(
        `${opts.source ?? 'loadStateDict'}: state dict does not fit the model — ${problems.join(' | ')}`,
        {
          hint: 'the weights and the model config must come from the same checkpoint',
        },
      );
    }
    // Copy into the parameter's own buffer: sharing the source's would let optimizer updates (which
    // mutate .data in place) write through into the caller's tensors, e.g. another model's weights.
    for (const [k, t] of entries) params.get(k)?.f32.set(t.data);
  }
}
