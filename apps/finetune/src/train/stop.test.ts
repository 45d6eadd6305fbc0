// train/stop.test.ts — the signal sequences of a Ctrl-C in a terminal: what each one decides and says.
import { afterEach, describe, expect, it } from 'vitest';
import { isSaveNow, nextStop, type StopSignal, type StopState, watchStopSignals } from './stop.js';

/** Folds a signal sequence through nextStop from the initial state. */
function run(sigs: readonly StopSignal[]): { state: StopState; messages: (string | undefined)[] } {
  let state: StopState = { signal: undefined, interrupts: 0 };
  const messages: (string | undefined)[] = [];
  for (const sig of sigs) {
    const n = nextStop(state, sig);
    state = n.state;
    messages.push(n.message);
  }
  return { state, messages };
}

describe('nextStop', () => {
  it('one SIGINT: stop after the step, reports still written', () => {
    const r = run(['SIGINT']);
    expect(r.state).toEqual({ signal: 'SIGINT', interrupts: 1 });
    expect(isSaveNow(r.state)).toBe(false);
    expect(r.messages).toEqual(['\nSIGINT: finishing the current step, saving a checkpoint…']);
  });

  it('a second SIGINT (or SIGTERM) means "save now"; a third only says how to abandon the run', () => {
    const r = run(['SIGINT', 'SIGTERM', 'SIGINT']);
    expect(r.state).toEqual({ signal: 'SIGINT', interrupts: 3 });
    expect(isSaveNow(r.state)).toBe(true);
    expect(r.messages[1]).toBe(
      'SIGTERM again: saving the checkpoint right after this step (skipping its evaluation and the reports)…',
    );
    expect(r.messages[2]).toMatch(/^SIGINT: still saving the checkpoint; Ctrl-\\ \(SIGQUIT\) abandons the run/);
  });

  it('SIGHUP alone stops like SIGINT; beside a Ctrl-C, in either order, it is not a second interrupt', () => {
    expect(run(['SIGHUP']).messages).toEqual([
      '\nSIGHUP (terminal closed): finishing the current step, saving a checkpoint…',
    ]);
    // node runs the handlers of signals pending during one step by signal number: SIGHUP (1) before SIGINT (2)
    for (const order of [
      ['SIGINT', 'SIGHUP'],
      ['SIGHUP', 'SIGINT'],
    ] as StopSignal[][]) {
      const r = run(order);
      expect(r.state.signal).toBe(order[0]);
      expect(isSaveNow(r.state), order.join(',')).toBe(false);
      expect(r.messages[1], order.join(',')).toBeUndefined();
    }
    expect(isSaveNow(run(['SIGHUP', 'SIGINT', 'SIGINT']).state)).toBe(true);
    expect(run(['SIGINT', 'SIGINT', 'SIGHUP', 'SIGHUP']).messages.slice(2)).toEqual([undefined, undefined]);
  });
});

describe('watchStopSignals', () => {
  const notes: string[] = [];
  let w: ReturnType<typeof watchStopSignals> | undefined;
  afterEach(() => w?.dispose());

  it('listens on process for SIGINT, SIGTERM and SIGHUP, and dispose() removes exactly its listeners', () => {
    const before = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    w = watchStopSignals((s) => notes.push(s));
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before.map((n) => n + 1));
    process.emit('SIGHUP');
    expect([w.signal, w.saveNow]).toEqual(['SIGHUP', false]);
    process.emit('SIGINT');
    expect(w.saveNow).toBe(false);
    process.emit('SIGINT');
    expect(w.saveNow).toBe(true);
    expect(notes).toHaveLength(2);
    w.dispose();
    w = undefined;
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before);
  });
});
