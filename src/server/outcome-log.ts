import type { AdmissionOutcome } from '../admission/handler.js';
import { clip } from '../core/brief.js';
import { lineWriter, type Logger } from '../log.js';

/** Kubernetes names are at most 253 characters; a reason names a problem in far fewer than 512. */
export const NAME_LOG_LENGTH = 253;
export const REASON_LOG_LENGTH = 512;

/** Writes the line of one admission outcome, if it is one worth a line. */
export type OutcomeLog = (reqId: string, body: unknown, outcome: AdmissionOutcome) => void;

interface Fields {
  reqId: string;
  kind: string;
  namespace: string | undefined;
  objectName: string | undefined;
  operation: string;
  dryRun: boolean;
  result: string;
  cap: { from: number; to: number } | undefined;
  reason: string;
}

const MESSAGES = { denied: 'denied invalid policy', error: 'failed open', patched: 'cap set', allowed: 'cap set', skipped: 'cap set' };

function fieldsOf(reqId: string, body: unknown, outcome: AdmissionOutcome, reason: string): Fields {
  const req = (body as { request?: { namespace?: string; name?: string; dryRun?: boolean } }).request;
  return {
    reqId,
    kind: outcome.kind,
    // A hand-made review can carry a name of any length: the log line stays bounded.
    namespace: typeof req?.namespace === 'string' ? clip(req.namespace, NAME_LOG_LENGTH) : undefined,
    // objectName, not name: the logger's base already writes "name" and a line must not
    // carry a key twice (log pipelines keep only one)
    objectName: typeof req?.name === 'string' ? clip(req.name, NAME_LOG_LENGTH) : undefined,
    operation: outcome.operation,
    dryRun: req?.dryRun === true,
    result: outcome.result,
    cap: outcome.capChange,
    reason,
  };
}

/**
 * A string as pino writes it. Pino writes a short string holding half of a surrogate pair
 * as it is (the UTF-8 encoder then makes it U+FFFD) where JSON.stringify escapes it, so
 * such a string is left to pino: null. Otherwise the two agree to the byte.
 */
function jsonString(s: string): string | null {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed() ? JSON.stringify(s) : null;
}

const jsonNumber = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/** The members of the line in pino's order (the fields' order, absent ones left out), or null to leave the line to pino. */
function members(f: Fields, reasonJson: string, msg: string): string | null {
  const reqId = jsonString(f.reqId);
  const kind = jsonString(f.kind);
  const namespace = f.namespace === undefined ? '' : jsonString(f.namespace);
  const name = f.objectName === undefined ? '' : jsonString(f.objectName);
  const operation = jsonString(f.operation);
  if (reqId === null || kind === null || namespace === null || name === null || operation === null) return null;
  const cap = f.cap === undefined ? '' : `,"cap":{"from":${jsonNumber(f.cap.from)},"to":${jsonNumber(f.cap.to)}}`;
  return (
    `,"reqId":${reqId},"kind":${kind}${namespace && `,"namespace":${namespace}`}${name && `,"objectName":${name}`}` +
    `,"operation":${operation},"dryRun":${f.dryRun},"result":"${f.result}"${cap},"reason":${reasonJson},"msg":"${msg}"`
  );
}

/**
 * The log of admission outcomes: one line per cap change, denial and failure, none for the
 * rest. With a logger from `createLogger` the line is built here (the fixed parts once, the
 * reason of a reused answer escaped once); with any other logger, or a string pino would
 * write differently, it goes through pino. Either way the line is the same.
 */
export function outcomeLog(logger: Logger | undefined): OutcomeLog | null {
  if (!logger) return null;
  // The fields are a fixed set, none named like a redacted path (token, password, request
  // headers): the process logger's redaction could never change them, and it cost about a
  // third of each line.
  const log = logger.child({}, { redact: { paths: [], censor: '' } });
  const lines = lineWriter(logger);
  // Reused answers carry the very same reason string: its escaped form is kept.
  let lastReason: string | null = null;
  let lastReasonJson: string | null = null;
  return (reqId, body, outcome) => {
    if (outcome.result !== 'denied' && outcome.result !== 'error' && !outcome.capChange) return;
    const level = outcome.result === 'error' ? 'warn' : 'info';
    const reason = clip(outcome.reason, REASON_LOG_LENGTH);
    const fields = fieldsOf(reqId, body, outcome, reason);
    const msg = MESSAGES[outcome.result];
    if (lines !== null) {
      if (outcome.reason !== lastReason) {
        lastReason = outcome.reason;
        lastReasonJson = jsonString(reason);
      }
      const text = lastReasonJson === null ? null : members(fields, lastReasonJson, msg);
      if (text !== null) {
        lines.write(level, text);
        return;
      }
    }
    log[level](fields, msg);
  };
}
