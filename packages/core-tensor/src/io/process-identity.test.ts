// io/process-identity.test.ts — pid liveness and start identity against ps(1), an independent reader of the same facts.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAlive, processIdentity, sameProcess } from './process-identity.js';

const hasProc = processIdentity(process.pid).startTicks !== undefined;
const etimes = spawnSync('ps', ['-o', 'etimes=', '-p', String(process.pid)], { encoding: 'utf8' });

describe('processIdentity', () => {
  it.runIf(hasProc && etimes.status === 0)(
    'start ticks agree with ps -o etimes (elapsed seconds) for this process',
    () => {
      const id = processIdentity(process.pid);
      const ps = spawnSync('ps', ['-o', 'etimes=', '-p', String(process.pid)], { encoding: 'utf8' });
      const elapsed = Number(ps.stdout.trim());
      const started = Date.parse(id.processStart as string);
      expect(Math.abs((Date.now() - started) / 1000 - elapsed)).toBeLessThan(2.5);
      expect(id.bootId).toMatch(/^[0-9a-f-]{36}$/);
    },
  );

  it('a live pid is alive and the same process; an exited one is not alive; other start ticks are another process', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    const pid = child.pid as number;
    const id = processIdentity(pid);
    expect(isAlive(pid)).toBe(true);
    expect(sameProcess(pid, id)).toBe(true);
    if (hasProc) expect(sameProcess(pid, { ...id, startTicks: (id.startTicks as number) + 1 })).toBe(false);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(isAlive(pid)).toBe(false);
    expect(isAlive(0)).toBe(false);
    expect(isAlive(-1)).toBe(false);
  });

  const hasPerl = spawnSync('perl', ['-e', '1']).status === 0;
  it.runIf(hasProc && hasPerl)(
    'a killed child that its parent has not reaped yet (a zombie) is not alive',
    async () => {
      // perl forks a child, SIGKILLs it and sleeps without wait(): the child stays a zombie meanwhile
      // (a shell or node would reap it at once)
      const script = '$|=1; my $p = fork; if (!$p) { sleep 30; exit } kill 9, $p; print "$p\\n"; sleep 5';
      const parent = spawn('perl', ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
      const pid = await new Promise<number>((r) => parent.stdout.once('data', (d: Buffer) => r(Number(d.toString()))));
      await new Promise((r) => setTimeout(r, 300));
      expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/\) Z /); // it is a zombie: kill(pid, 0) succeeds
      expect(isAlive(pid)).toBe(false);
      parent.kill('SIGKILL');
    },
  );
});
