/**
 * Where `serve`'s CPU went during one window of a V8 CPU profile (`--cpu-prof`), by what the
 * process was doing: each sample goes to the innermost frame on its stack that belongs to a
 * known area (the log line before the admission request that wrote it, the ledger before the
 * controller that booked it); code shared by everyone (the core, Node's internals) counts for
 * whoever called it. Samples with no such frame are split by their own frame.
 *
 * Profile times are CLOCK_MONOTONIC microseconds, the clock of `process.hrtime`, so a window
 * taken with `monotonicUs()` in another process on the same host lines up with the samples.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Areas in the order a frame is tested against them; the first pattern that matches names it. */
const AREAS: Array<[string, RegExp]> = [
  ['logging', /\/src\/(log|server\/outcome-log)\.|node_modules\/(pino|sonic-boom|thread-stream|fast-redact|on-exit-leak-free)\//],
  ['metrics', /\/src\/server\/(metrics|ledger-metrics)\.|node_modules\/prom-client\//],
  ['ledger', /\/src\/cluster\/ledger\./],
  ['TLS certificates', /\/src\/(tls\/|server\/(tls-source|cluster-certs|ca-bundle)\.)|node_modules\/node-forge\//],
  ['carbon data', /\/src\/carbon\//],
  [
    'controller (decide, touch, Lease)',
    /\/src\/cluster\/(controller|reconcile|queue|touch|evaluate|polite|subjects|events|report|restore[a-z-]*|lease|scope)\./,
  ],
  ['watch events and cache', /\/src\/cluster\/(api|informer|objects|namespaces|hpa)\.|node_modules\/@kubernetes\/client-node\/|node:_http_client/],
  [
    'admission requests (HTTP, fastify, decision, answer)',
    /\/src\/(admission\/|server\/(app|body|shutdown)\.)|node_modules\/(fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|@fastify\/[^/]+)\/|node:_http_server/,
  ],
];

/**
 * Node's HTTP parser, HTTP/2 session and socket callbacks run from native code with nothing
 * of ours above them; the server's requests are nearly all of that traffic (the API client's watch streams
 * go through node:_http_client, which names them), so they count for admission.
 */
const HTTP_PLUMBING = /^node:(_http_(common|incoming|outgoing)|internal\/stream_base_commons|internal\/http2\/)/;
const ADMISSION = AREAS[AREAS.length - 1]![0];

function ownArea(frame: ProfileNode['callFrame']): string | null {
  if (frame.url.includes('/bench/') || frame.url.includes('/test/')) return null;
  for (const [name, pattern] of AREAS) if (pattern.test(frame.url)) return name;
  return null;
}

/** The area of a sample whose stack names none: what its own frame is. */
function leafArea(frame: ProfileNode['callFrame']): string {
  if (frame.functionName === '(garbage collector)') return 'garbage collection';
  if (frame.functionName === '(program)') return 'outside JavaScript (OpenSSL, the event loop, the compiler)';
  if (frame.functionName === '(idle)') return '(idle)';
  return 'other JavaScript (timers, streams and sockets outside the areas above)';
}

type Part = 'decision' | 'body' | null;
const DECISION = /\/src\/(admission|core)\//;
const BODY = /\/src\/server\/body\./;
const SOCKET_WRITE = /^(writev|writeUtf8String|writeLatin1String|writeBuffer|writeString)$/;
const node0 = (byId: Map<number, ProfileNode>, id: number) => byId.get(id)!.callFrame;

/** Admission's own time, by what it was doing: the answer's socket write, the body, the decision, or HTTP itself. */
function admissionPart(frame: ProfileNode['callFrame'], part: Part): string {
  if (frame.url === '' && SOCKET_WRITE.test(frame.functionName)) return 'admission: socket writes (TLS encryption and the send)';
  if (part === 'body') return 'admission: parsing the review (JSON.parse)';
  if (part === 'decision') return 'admission: decision, patch and answer (src/admission, src/core)';
  return 'admission: HTTP and fastify';
}

function areaOfEveryNode(profile: Profile): Map<number, string> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const area = new Map<number, string>();
  // Root first, so each node inherits the innermost area above it and whether HTTP plumbing is.
  const queue: Array<{ id: number; above: string | null; plumbing: boolean; part: Part }> = [
    { id: profile.nodes[0]!.id, above: null, plumbing: false, part: null },
  ];
  for (let i = 0; i < queue.length; i++) {
    const { id, above, plumbing: plumbingAbove, part: partAbove } = queue[i]!;
    const part = DECISION.test(node0(byId, id).url) ? 'decision' : BODY.test(node0(byId, id).url) ? 'body' : partAbove;
    const node = byId.get(id)!;
    const here = ownArea(node.callFrame) ?? above;
    const plumbing = plumbingAbove || HTTP_PLUMBING.test(node.callFrame.url);
    const leaf = leafArea(node.callFrame);
    const named = here ?? (plumbing && leaf.startsWith('other') ? ADMISSION : leaf);
    area.set(id, named === ADMISSION ? admissionPart(node.callFrame, part) : named);
    for (const c of node.children ?? []) queue.push({ id: c, above: here, plumbing, part });
  }
  return area;
}

export interface Split {
  /** Sampled busy time in the window (wall time the process was on a stack, not idle). */
  busyMs: number;
  /** Percent of busy time per area, largest first. */
  shares: Record<string, number>;
}

/** Busy time per area between `fromUs` and `toUs` (monotonic microseconds). */
export function splitWindow(profile: Profile, fromUs: number, toUs: number): Split {
  const area = areaOfEveryNode(profile);
  const time = new Map<string, number>();
  let t = profile.startTime;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) return;
    const a = area.get(id)!;
    if (a === '(idle)') return;
    const us = profile.timeDeltas[i] ?? 0;
    busy += us;
    time.set(a, (time.get(a) ?? 0) + us);
  });
  const shares = Object.fromEntries([...time].sort((x, y) => y[1] - x[1]).map(([k, us]) => [k, Math.round((us / busy) * 1000) / 10]));
  return { busyMs: Math.round(busy / 1000), shares };
}

/** Each area's share of the CPU time measured from /proc, per write. */
export function perWrite(split: Split, cpuMsPerWrite: number): Record<string, number> {
  return Object.fromEntries(Object.entries(split.shares).map(([k, pct]) => [k, Math.round(pct * cpuMsPerWrite * 10) / 1000]));
}
