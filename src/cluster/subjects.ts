import type { CapSubject } from '../core/moments.js';
import type { Policy } from '../core/policy.js';

/**
 * The cap subjects of every cached object, kept per object and grouped per distinct
 * subject: 10,000 objects under a few policies are a handful of subjects for
 * `nextCapChange`, and new carbon data enqueues only the keys of subjects whose cap moves. An inline policy text shared by many objects parses to one Policy.
 */
export class SubjectIndex {
  private readonly byKey = new Map<string, string>();
  private readonly distinct = new Map<string, { subject: CapSubject; keys: Set<string> }>();
  private readonly policyIds = new WeakMap<Policy, number>();
  private nextPolicyId = 0;
  private list: CapSubject[] | undefined;
  /** Bumped on every change that alters the distinct set, so callers can cache on it. */
  version = 0;

  /** The same id for equal subjects (same Policy object, declared, min, annotation, cap and next step). */
  idOf(s: CapSubject): string {
    let id = this.policyIds.get(s.policy);
    if (id === undefined) {
      id = ++this.nextPolicyId;
      this.policyIds.set(s.policy, id);
    }
    return `${id}/${s.declared}/${s.minReplicas}/${s.ecoModeOffAnnotation ? 1 : 0}/${s.cap}/${s.nextStepAt ?? ''}`;
  }

  set(key: string, subject: CapSubject | undefined): void {
    const id = subject ? this.idOf(subject) : undefined;
    const old = this.byKey.get(key);
    if (old === id) return;
    if (old !== undefined) this.release(old, key);
    if (id === undefined) {
      this.byKey.delete(key);
      return;
    }
    this.byKey.set(key, id);
    const d = this.distinct.get(id);
    if (d) d.keys.add(key);
    else this.changed(() => this.distinct.set(id, { subject: subject!, keys: new Set([key]) }));
  }

  delete(key: string): void {
    this.set(key, undefined);
  }

  clear(): void {
    this.byKey.clear();
    this.changed(() => this.distinct.clear());
  }

  /** The subject `key` was last set to. */
  subjectOf(key: string): CapSubject | undefined {
    const id = this.byKey.get(key);
    return id === undefined ? undefined : this.distinct.get(id)?.subject;
  }

  get size(): number {
    return this.distinct.size;
  }

  subjects(): readonly CapSubject[] {
    this.list ??= [...this.distinct.values()].map((d) => d.subject);
    return this.list;
  }

  /** Each distinct subject with the keys of the objects that share it. */
  groups(): IterableIterator<{ readonly subject: CapSubject; readonly keys: ReadonlySet<string> }> {
    return this.distinct.values();
  }

  private release(id: string, key: string): void {
    const d = this.distinct.get(id)!;
    d.keys.delete(key);
    if (d.keys.size === 0) this.changed(() => this.distinct.delete(id));
  }

  private changed(fn: () => void): void {
    fn();
    this.list = undefined;
    this.version++;
  }
}
