// commands/targets.ts — the --targets flag: 'all-linear' or a comma-separated list of module names.
export function parseTargets(s: string): string[] | 'all-linear' {
  if (s.trim() === 'all-linear') return 'all-linear';
  return s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}
