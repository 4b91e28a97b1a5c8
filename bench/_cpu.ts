/**
 * CPU time a benchmarked process has used, read from /proc, for the CPU-per-request columns of
 * the wrk-driven benchmarks (bench/server.ts, bench/proxy.ts).
 */
import { readFileSync } from 'node:fs';

const CLK_TCK = 100;

/** User + system µs of one process from its stat(5) line; NaN where it cannot be read. */
function ownMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5), counted after the command name (field 3 is f[0]).
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Direct children of `pid` (an nginx master's workers); empty where /proc does not list them. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU time (µs, user + system) the process and its direct children have used so far; NaN where
 * /proc is absent. Children count so that an nginx master with workers is measured whole; a
 * child that exits between two readings would be lost, which a benchmark's steady state avoids.
 */
export function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  let total = ownMicros(pid);
  for (const child of childrenOf(pid)) total += ownMicros(child);
  return total;
}
