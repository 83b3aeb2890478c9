import type { CarbonSnapshot } from '../core/carbon.js';
import { changeMoments } from '../core/moments.js';
import { ANNOTATION } from '../core/names.js';
import { ecoModeOffByAnnotation, type KedaObject } from '../core/object.js';
import { isoTime, planObject, type Plan, type PlanInput } from '../core/plan.js';
import type { Policy } from '../core/policy.js';
import { buildPatch } from './patch.js';

type ApplyPlan = Extract<Plan, { kind: 'apply' }>;

/** A plan with its JSONPatch already encoded (base64 of the JSON), as the AdmissionResponse carries it. */
export interface EncodedPlan {
  plan: Plan;
  /** Number of JSONPatch operations; 0 when the object is already as planned. */
  ops: number;
  /** Set when `ops` > 0. */
  patch?: string;
}

interface Entry {
  /** The answer holds for reviews evaluated in [from, until): no input of the decision changes in between. */
  from: number;
  until: number;
  plan: ApplyPlan;
  ops: number;
  /**
   * The JSONPatch as JSON, cut where the status line's `evaluatedAt` time goes; `tail` is
   * null when the patch does not carry a fresh status line, and `head` is then the base64.
   */
  head: string;
  tail: string | null;
  /** The last patch spliced, and for which time: reviews come several per millisecond under load. */
  lastAt: number;
  lastPatch: string;
}

/** How far ahead the validity of an answer is computed; a longer stretch costs more on a miss. */
const HORIZON_MS = 60_000;
const MAX_ENTRIES = 512;

function base64(json: string): string {
  return Buffer.from(json).toString('base64');
}

/**
 * The parts of an object (and of its stored version) that `planObject` and `buildPatch`
 * read once the policy is known, as one string. The handler has checked the shape first
 * (`unpatchable`): spec, metadata and annotations are each absent or a plain object, and
 * every annotation is a string. Strings are length-prefixed so that no two objects share a key.
 */
function objectKey(object: KedaObject, oldObject: KedaObject | null): string | null {
  const max = countKey(object.spec?.maxReplicaCount);
  const min = countKey(object.spec?.minReplicaCount);
  const oldMax = oldObject ? countKey(oldObject.spec?.maxReplicaCount) : 'n';
  if (max === null || min === null || oldMax === null) return null;
  const metadata = object.metadata;
  const annotations = metadata?.annotations;
  const declared = annotations?.[ANNOTATION.declared];
  const status = annotations?.[ANNOTATION.status];
  const shape = `${object.spec == null ? '-' : 's'}${metadata == null ? '-' : 'm'}${annotations == null ? '-' : 'a'}`;
  const strings = `${declared === undefined ? '-' : `${declared.length}:${declared}`}|${status === undefined ? '-' : `${status.length}:${status}`}`;
  return `${shape}|${max}|${min}|${ecoModeOffByAnnotation(object) ? 1 : 0}|o${oldMax}|${strings}`;
}

/**
 * A replica count as its own key part: a number or absent. Anything else (a string, an
 * object, null) is answered without the memo, so that a value the plan refuses can never
 * share a key with an absent one.
 */
function countKey(v: unknown): string | null {
  if (v === undefined) return '-';
  return typeof v === 'number' ? String(v) : null;
}

/**
 * Answers to admission reviews under a policy, kept for as long as they stay right.
 *
 * The decision depends on the policy, the carbon data, a few values of the object and the
 * time; `changeMoments` says when the time next matters, so an answer is reused until
 * then. The only part that follows the clock in between is the status line's
 * `evaluatedAt`, which is spliced into the encoded patch. Policies and snapshots are
 * immutable and keyed by identity: a config reload or a carbon update makes new ones, so
 * older answers are never looked up again and age out of the bounded map.
 */
export class AnswerMemo {
  private readonly entries = new Map<string, Entry>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }

  /** `planObject` and `buildPatch`, encoded; from the memo when the same inputs were answered before. */
  plan(input: PlanInput & { readonly policy: Policy; readonly origin: string }): EncodedPlan {
    const { object, carbon, now } = input;
    const oldObject = input.oldObject ?? null;
    const objectPart = objectKey(object, oldObject);
    // A step-down decides from the stored object and its next step's time, which the key
    // and `changeMoments` do not hold: such answers are made afresh.
    if (objectPart === null || input.policy.stepDown) return encode(input);
    const key = `${this.idOf(input.policy)}|${this.idOf(carbon)}|${input.origin.length}:${input.origin}|${objectPart}`;
    const hit = this.entries.get(key);
    if (hit !== undefined && now >= hit.from && now < hit.until) {
      if (hit.ops === 0) return { plan: hit.plan, ops: 0 };
      if (hit.tail === null) return { plan: hit.plan, ops: hit.ops, patch: hit.head };
      if (hit.lastAt !== now) {
        hit.lastPatch = base64(hit.head + isoTime(now) + hit.tail);
        hit.lastAt = now;
      }
      return { plan: hit.plan, ops: hit.ops, patch: hit.lastPatch };
    }
    const plan = planObject(input);
    if (plan.kind !== 'apply') return { plan, ops: 0 };
    const ops = buildPatch(object, plan);
    const json = JSON.stringify(ops);
    const entry = entryFor(plan, ops.length, json, now, untilOf(input.policy, carbon, now));
    if (entry !== null) this.remember(key, entry);
    return ops.length === 0 ? { plan, ops: 0 } : { plan, ops: ops.length, patch: base64(json) };
  }

  private remember(key: string, entry: Entry): void {
    this.entries.delete(key);
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, entry);
  }
}

function untilOf(policy: Policy, carbon: CarbonSnapshot, now: number): number {
  return changeMoments(policy, carbon, now, now + HORIZON_MS)[0] ?? now + HORIZON_MS + 1;
}

/** The entry for a fresh answer, or null when its patch cannot be cut cleanly at the time. */
function entryFor(plan: ApplyPlan, ops: number, json: string, now: number, until: number): Entry | null {
  const base = { from: now, until, plan, ops, lastAt: Number.NaN, lastPatch: '' };
  // The status line is JSON inside JSON: its quotes arrive escaped.
  const marker = `\\"evaluatedAt\\":\\"${isoTime(now)}\\"`;
  const at = json.indexOf(marker);
  if (at < 0) return { ...base, head: base64(json), tail: null };
  if (json.indexOf(marker, at + 1) >= 0) return null;
  const timeAt = at + marker.length - isoTime(now).length - 2;
  return { ...base, head: json.slice(0, timeAt), tail: json.slice(timeAt + isoTime(now).length) };
}

/** `planObject` and `buildPatch` without the memo. */
function encode(input: PlanInput): EncodedPlan {
  const plan = planObject(input);
  if (plan.kind !== 'apply') return { plan, ops: 0 };
  const ops = buildPatch(input.object, plan);
  return ops.length === 0 ? { plan, ops: 0 } : { plan, ops: ops.length, patch: base64(JSON.stringify(ops)) };
}
