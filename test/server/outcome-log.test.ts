import diagnostics from 'node:diagnostics_channel';
import t from 'tap';
import type { AdmissionOutcome, AdmissionResult } from '../../src/admission/handler.js';
import { createLogger, type Logger } from '../../src/log.js';
import { outcomeLog } from '../../src/server/outcome-log.js';
import { duplicateKeys } from '../helpers/json-keys.js';

/** A logger from createLogger writing into an array. */
function capture(level = 'info'): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, destination: { write: (s: string) => void lines.push(s) } }) };
}

/** pino's own formatting of every line (its asJson), counted through pino's tracing channel. */
let pinoFormatted = 0;
diagnostics.tracingChannel('pino_asJson').subscribe({
  start: () => void pinoFormatted++,
  end() {},
  asyncStart() {},
  asyncEnd() {},
  error() {},
});

interface Case {
  reqId: string;
  body: unknown;
  outcome: AdmissionOutcome;
}

function outcome(result: AdmissionResult, reason: string, extra: Partial<AdmissionOutcome> = {}): AdmissionOutcome {
  return { review: {} as AdmissionOutcome['review'], result, operation: 'CREATE', kind: 'ScaledObject', reason, ...extra };
}

const review = (request: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const REASON = 'policy "standard" (annotation): 600 gCO2eq/kWh >= p80 (390) -> cap 2';
const sharedReason = `${REASON} (shared)`;

const wellFormed: Case[] = [
  { reqId: 'req-1', body: review({ namespace: 'probe', name: 'so-b2' }), outcome: outcome('patched', REASON, { capChange: { from: 10, to: 2 } }) },
  {
    reqId: 'req-2',
    body: review({ namespace: 'ns\n\t\u0001\u007f', name: 'a"b\\c\u2028d', dryRun: false }),
    outcome: outcome('patched', 'quotes " and \\ and \r\n', { capChange: { from: 2, to: 10 } }),
  },
  {
    reqId: 'req-3',
    body: review({ namespace: 'ñandú-中文', name: '😀 emoji é', dryRun: true }),
    outcome: outcome('patched', 'unicode ☃ ünïcödé 😀', { operation: 'UPDATE', kind: 'ScaledJob', capChange: { from: 100, to: 1 } }),
  },
  // Clipped names and reasons, over pino's 100 characters where it switches to JSON.stringify.
  {
    reqId: 'req-4',
    body: review({ namespace: 'n'.repeat(400), name: `x"${'y'.repeat(1000)}` }),
    outcome: outcome('patched', `"${'r\\'.repeat(600)}"`, { capChange: { from: 1e21, to: 0.5 } }),
  },
  { reqId: 'req-5', body: review({}), outcome: outcome('denied', 'invalid policy "x": band p200 is not a percentile', { operation: 'UP"DATE' }) },
  { reqId: 'req-6', body: {}, outcome: outcome('error', 'internal error: \u0000 boom', { kind: 'other', capChange: { from: 3, to: 2 } }) },
  { reqId: 'req-7', body: review({ namespace: 1, name: null }), outcome: outcome('patched', sharedReason, { capChange: { from: 5, to: 4 } }) },
  { reqId: 'req-8', body: review({ namespace: 'again', name: 'same-reason' }), outcome: outcome('patched', sharedReason, { capChange: { from: 6, to: 4 } }) },
  // Lines only for cap changes, denials and failures.
  { reqId: 'req-9', body: review({ name: 'unchanged' }), outcome: outcome('patched', REASON) },
  { reqId: 'req-10', body: review({ name: 'skipped' }), outcome: outcome('skipped', 'operation DELETE is not ours') },
];

// Half a surrogate pair: pino writes it raw in a short string and escaped in a long one, and
// a name clipped inside an emoji ends in one.
const illFormed: Case[] = [
  { reqId: 'req-11', body: review({ namespace: 'p', name: 'half \ud800 pair' }), outcome: outcome('patched', REASON, { capChange: { from: 10, to: 2 } }) },
  { reqId: 'req-12', body: review({ namespace: 'p', name: `a${'😀'.repeat(300)}` }), outcome: outcome('patched', REASON, { capChange: { from: 10, to: 2 } }) },
  { reqId: 'req-13', body: review({ namespace: 'p', name: 'n' }), outcome: outcome('denied', 'reason \udc00 half') },
];

/** The lines pino itself writes for the cases: the same logger's child is not one `lineWriter` knows. */
function throughPino(level: string, cases: Case[]): string[] {
  const { lines, logger } = capture(level);
  const log = outcomeLog(logger.child({}))!;
  for (const c of cases) log(c.reqId, c.body, c.outcome);
  return lines;
}

const sameTime = (line: string) => line.replace(/^\{"level":(\d+),"time":\d+,/, '{"level":$1,"time":0,');

t.test('outcome lines built without pino are the lines pino writes, to the character', async (t) => {
  const expected = throughPino('info', [...wellFormed, ...illFormed]);
  t.equal(expected.length, 11, 'no line for a review that changes no cap');
  const { lines, logger } = capture();
  const log = outcomeLog(logger)!;
  const before = Date.now();
  const formattedBefore = pinoFormatted;
  for (const c of wellFormed) log(c.reqId, c.body, c.outcome);
  t.equal(pinoFormatted - formattedBefore, 0, 'pino formatted none of the well-formed lines');
  for (const c of illFormed) log(c.reqId, c.body, c.outcome);
  t.equal(pinoFormatted - formattedBefore, illFormed.length, 'lines with half a surrogate pair are left to pino');
  t.same(lines.map(sameTime), expected.map(sameTime));
  for (const line of lines) {
    const time = JSON.parse(line).time;
    t.ok(time >= before && time <= Date.now(), 'the time of writing');
  }
  // The logger's own name comes first; the object's name has a key of its own.
  t.equal(
    sameTime(lines[0]!),
    `{"level":30,"time":0,"name":"keda-carbon","reqId":"req-1","kind":"ScaledObject","namespace":"probe","objectName":"so-b2","operation":"CREATE","dryRun":false,"result":"patched","cap":{"from":10,"to":2},"reason":${JSON.stringify(REASON)},"msg":"cap set"}\n`,
  );
});

t.test('no outcome line carries a key twice, whether pino or the fast path wrote it', async (t) => {
  t.same(duplicateKeys('{"name":"keda-carbon","kind":"k","name":"so"}'), ['.name'], 'the check sees a repeated key');
  const { lines, logger } = capture();
  const log = outcomeLog(logger)!;
  for (const c of [...wellFormed, ...illFormed]) log(c.reqId, c.body, c.outcome);
  const pinoLines = throughPino('info', [...wellFormed, ...illFormed]);
  t.equal(lines.length + pinoLines.length, 22);
  for (const line of [...lines, ...pinoLines]) t.same(duplicateKeys(line), [], line.slice(0, 120));
  t.match(JSON.parse(lines[0]!), { name: 'keda-carbon', namespace: 'probe', objectName: 'so-b2' });
});

t.test('the configured level holds: at warn only failures are written', async (t) => {
  const expected = throughPino('warn', wellFormed);
  const { lines, logger } = capture('warn');
  const log = outcomeLog(logger)!;
  for (const c of wellFormed) log(c.reqId, c.body, c.outcome);
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]!), { level: 40, msg: 'failed open', result: 'error' });
  t.same(lines.map(sameTime), expected.map(sameTime));
  logger.level = 'info';
  log('req-20', review({ name: 'later' }), outcome('patched', REASON, { capChange: { from: 3, to: 1 } }));
  t.equal(lines.length, 2, 'a level changed at run time is followed');
});
