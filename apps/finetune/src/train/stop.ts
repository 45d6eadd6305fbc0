// train/stop.ts — SIGINT / SIGTERM / SIGHUP become a clean stop of the training loop, never a lost run.
//
// A terminal's Ctrl-C reaches every process of the foreground group at once (pnpm, its shell, node);
// closing the terminal adds SIGHUP, and wrappers may relay the same keypress a second time. The loop
// only looks at the request between steps, so whatever arrives, the step in flight finishes and a
// checkpoint is written:
//   1st signal            finish the step (and its evaluation), save, write the reports, exit 130
//   2nd SIGINT / SIGTERM  "save now": skip the step's evaluation, the periodic save and the reports
//   later ones            noted; Ctrl-\ (SIGQUIT) still abandons the run
// SIGHUP is taken like SIGINT (node resets it to the default, terminate, even under nohup) but never
// counts as a repeat: a closing terminal sends it beside the Ctrl-C, and node runs the handlers of
// signals that arrived during one step in signal-number order, not in arrival order.

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';
const SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface StopState {
  /** The first signal received (undefined: keep training). */
  readonly signal: StopSignal | undefined;
  /** SIGINTs and SIGTERMs received. */
  readonly interrupts: number;
}

/** A second SIGINT/SIGTERM: save right after the step in flight, skipping evaluation and reports. */
export const isSaveNow = (s: StopState): boolean => s.interrupts >= 2;

/** The state after one more signal and what to tell the user (pure, so it is unit-tested). */
export function nextStop(s: StopState, sig: StopSignal): { state: StopState; message: string | undefined } {
  const state = { signal: s.signal ?? sig, interrupts: s.interrupts + (sig === 'SIGHUP' ? 0 : 1) };
  if (s.signal === undefined)
    return {
      state,
      message: `\n${sig}${sig === 'SIGHUP' ? ' (terminal closed)' : ''}: finishing the current step, saving a checkpoint…`,
    };
  if (state.interrupts === 2 && s.interrupts === 1)
    return {
      state,
      message: `${sig} again: saving the checkpoint right after this step (skipping its evaluation and the reports)…`,
    };
  if (state.interrupts > 2 && sig !== 'SIGHUP')
    return { state, message: `${sig}: still saving the checkpoint; Ctrl-\\ (SIGQUIT) abandons the run without it` };
  return { state, message: undefined };
}

/** Installs the handlers on `process`; `dispose()` removes them. */
export function watchStopSignals(note: (s: string) => void): {
  readonly signal: StopSignal | undefined;
  readonly saveNow: boolean;
  dispose(): void;
} {
  let state: StopState = { signal: undefined, interrupts: 0 };
  const handlers = SIGNALS.map((sig) => {
    const h = () => {
      const next = nextStop(state, sig);
      state = next.state;
      if (next.message) note(next.message);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return {
    get signal() {
      return state.signal;
    },
    get saveNow() {
      return isSaveNow(state);
    },
    dispose() {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
