/**
 * Where a V8 CPU profile's busy time went, by self time: per code area (our src/, fastify,
 * pino, Node's TLS and HTTP, native, GC) and the top functions. Idle samples are left out,
 * so shares are of the time the process was busy.
 *
 *   node .bench-build/bench/cpuprofile.js FILE.cpuprofile [TOP]
 *
 * Used on the profiles `BENCH_PROFILE=DIR npm run bench -- admission` writes (one per server).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The code area a frame belongs to, from its script URL. */
function area(url: string, fn: string): string {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (url === '') return '(native)';
  if (/\/src\//.test(url) && !url.includes('node_modules')) return 'ours (src/)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const internal = /^node:(?:internal\/)?([a-z_]+)/.exec(url);
  if (internal) return `node:${internal[1]}`;
  return url;
}

export function summarise(profile: Profile, top = 15): { busyMs: number; areas: Record<string, number>; functions: Array<[string, number]> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const a = area(url, functionName);
    if (a === '(idle)') continue;
    busy += us;
    areas.set(a, (areas.get(a) ?? 0) + us);
    const name = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules\/)?/, '')}:${lineNumber + 1}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
  }
  const share = (us: number) => Math.round((us / busy) * 1000) / 10;
  const sorted = (m: Map<string, number>) => [...m].sort((x, y) => y[1] - x[1]);
  return {
    busyMs: Math.round(busy / 1000),
    areas: Object.fromEntries(sorted(areas).map(([k, v]) => [k, share(v)])),
    functions: sorted(fns)
      .slice(0, top)
      .map(([k, v]) => [k, share(v)]),
  };
}

if (process.argv[1]?.endsWith('cpuprofile.js')) {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpuprofile.js FILE.cpuprofile [TOP]');
  const out = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(top ?? 15));
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}
