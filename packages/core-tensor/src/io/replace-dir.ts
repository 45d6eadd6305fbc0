// io/replace-dir.ts — moves a finished temp directory into place without ever leaving the destination half-deleted.
import fs from 'node:fs';

/** Suffix of a replaced directory set aside by replaceDir() while the new one moves in. */
export const SET_ASIDE_SUFFIX = '.old';

/**
 * Renames the finished directory `tmp` to `out`. A directory cannot be replaced atomically from Node
 * (Linux's renameat2 RENAME_EXCHANGE is not exposed), so an existing `out` is first renamed aside to
 * `<tmp>.old`, whole; once the new one is in, the old one is renamed to `<tmp>.trash` and deleted.
 * A kill at any point leaves `out` complete (old or new) or absent with its previous contents whole
 * at `<tmp>.old` — never partial; a `.trash` may be partial and is for the caller's next run to remove.
 */
export function replaceDir(tmp: string, out: string): void {
  if (!fs.existsSync(out)) {
    fs.renameSync(tmp, out);
    return;
  }
  const old = `${tmp}${SET_ASIDE_SUFFIX}`;
  fs.renameSync(out, old);
  fs.renameSync(tmp, out);
  const trash = `${tmp}.trash`;
  fs.renameSync(old, trash);
  fs.rmSync(trash, { recursive: true, force: true });
}
