// terminal.ts — runs the README's `pnpm --silent finetune …` the ways a terminal does: in its own
// process group (signals to the whole group), or on a pseudo-terminal (util-linux `script`) where a
// ^C byte is turned into SIGINT by the line discipline and closing the terminal sends SIGHUP.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { shellWord } from '../../src/train/resume.js';
import { type Child, collectChild, REPO, sleep, waitFor } from './harness.js';

/** The environment of a user's shell: no debug stack traces. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TSLORA_DEBUG;
  return env;
}

/** A started command: its output so far (`seen`) and its end (`done`). */
export type Started = Child & { seen(): string };

/** util-linux `script` (its -qfec flags) is there: the pty cases run only then. */
export const HAVE_SCRIPT = /util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '');

/** The README's command line for `finetune <args>`. */
export const pnpmArgv = (args: readonly string[]): string[] => ['--silent', 'finetune', ...args];

/** `pnpm --silent finetune <args>` from the repository root as the leader of a new process group (setsid). */
export function startPnpmGroup(args: readonly string[]): Started & { signalGroup(sig: NodeJS.Signals): void } {
  const proc = spawn('pnpm', pnpmArgv(args), { cwd: REPO, env: userEnv(), detached: true });
  return { ...collectChild(proc), signalGroup: (sig) => process.kill(-(proc.pid as number), sig) };
}

/**
 * `pnpm --silent finetune <args>` on a new pseudo-terminal: `script -qfec CMD /dev/null` makes the
 * command a session on the pty; bytes written to `typeKeys` are typed on it. With -e, script exits
 * with the command's exit code; its stdout is the terminal's transcript.
 */
export function startPnpmOnPty(args: readonly string[]): Started & { typeKeys(s: string): void } {
  const cmd = ['pnpm', ...pnpmArgv(args)].map(shellWord).join(' ');
  const proc = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: REPO, env: userEnv(), detached: true });
  return { ...collectChild(proc), typeKeys: (s) => proc.stdin?.write(s) };
}

/** Pids of live processes (not zombies) whose command line has `needle` as one argument (Linux /proc). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${d}/status`, 'utf8'))?.[1];
      if (argv.includes(needle) && state !== 'Z') out.push(Number(d));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

/** Waits until no process has `needle` as an argument (a run left without a parent to report to). */
export async function waitGone(needle: string, timeout = 60_000): Promise<void> {
  await waitFor(() => pidsWithArg(needle).length === 0, timeout, 50);
  await sleep(20);
}
