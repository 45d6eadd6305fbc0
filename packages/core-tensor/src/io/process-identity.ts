// io/process-identity.ts — who a pid is: alive or not, and when it started (so a reused pid is not mistaken for its owner).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** A process as an output lock records it; `undefined` fields could not be read on this system. */
export interface ProcessIdentity {
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): exact, unlike the wall-clock time derived from it. */
  startTicks?: number;
  /** /proc/sys/kernel/random/boot_id: a reboot restarts pid numbering and tick counts, so ticks compare only within one boot. */
  bootId?: string;
  /** The start time as a wall-clock ISO string (boot time + ticks / USER_HZ, or `ps -o lstart` where /proc is absent). */
  processStart?: string;
}

/**
 * USER_HZ: the unit of /proc/PID/stat times. The kernel fixes it at 100 for user space on x86, arm
 * and most other architectures (sysconf(_SC_CLK_TCK) is not reachable from Node). It only affects
 * the human-readable `processStart`; identity is compared on the raw ticks.
 */
const USER_HZ = 100;

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields 3.. of /proc/PID/stat (field 2, the command name, is in parentheses and may hold spaces or ')'). */
function statFields(pid: number): string[] | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat
    .slice(stat.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
}

/** Boot time (seconds since the epoch) from /proc/stat's `btime` line. */
function bootTime(): number | undefined {
  const m = /^btime (\d+)$/m.exec(readText('/proc/stat') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `ps -o lstart=` (one-second resolution) where there is no /proc, e.g. macOS; undefined if ps is missing too. */
function psStart(pid: number): string | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return out === '' ? undefined : out;
  } catch {
    return undefined;
  }
}

/** The identity of a running process, as far as this system shows it. */
export function processIdentity(pid: number): ProcessIdentity {
  const f = statFields(pid);
  const ticks = f?.[19] !== undefined ? Number(f[19]) : Number.NaN; // field 22 is the 20th after the name
  if (Number.isFinite(ticks)) {
    const bootId = readText('/proc/sys/kernel/random/boot_id')?.trim();
    const boot = bootTime();
    return {
      startTicks: ticks,
      ...(bootId ? { bootId } : {}),
      ...(boot !== undefined ? { processStart: new Date((boot + ticks / USER_HZ) * 1000).toISOString() } : {}),
    };
  }
  const ps = psStart(pid);
  return ps ? { processStart: ps } : {};
}

/** This machine's boot id, or undefined where /proc does not give one. */
export function currentBootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/**
 * Whether `pid` is a live process on this machine. A zombie (exited, not yet reaped by its parent —
 * a SIGKILLed writer whose parent has not waited yet) is not alive: it will never release anything.
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to another user
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return statFields(pid)?.[0] !== 'Z';
}

/**
 * Whether the live process `pid` is still the one recorded as `recorded`, or a later process that
 * was given the same pid. Compares what both sides have (ticks within one boot, else the start
 * string); with nothing to compare, a live pid is taken to be the recorded one.
 */
export function sameProcess(pid: number, recorded: ProcessIdentity): boolean {
  const now = processIdentity(pid);
  if (recorded.startTicks !== undefined || now.startTicks !== undefined) {
    // one side from /proc and the other not (e.g. hidepid): the start strings differ in kind, so no verdict
    if (recorded.startTicks === undefined || now.startTicks === undefined) return true;
    if (recorded.bootId !== undefined && now.bootId !== undefined && recorded.bootId !== now.bootId) return false;
    return recorded.startTicks === now.startTicks;
  }
  if (recorded.processStart !== undefined && now.processStart !== undefined)
    return recorded.processStart === now.processStart;
  return true;
}
