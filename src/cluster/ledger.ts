import type { CarbonSnapshot } from '../core/carbon.js';
import type { CarbonReader, Clock, LedgerGrams, LedgerRow } from '../ports.js';

/** What the controller books for one object. */
export interface Booking {
  readonly namespace: string;
  /** A configured policy's name, or `inline`. */
  readonly policy: string;
  /** `enforce` or `observe`. */
  readonly mode: string;
  /** The cap booked: the cap in force, or in observe mode the cap the policy would set. */
  readonly cap: number;
  /** The maxReplicaCount in force (in observe mode, the declared max): what an HPA at its max runs at. */
  readonly inForce: number;
  readonly declared: number;
  /** Watts per replica; null books no grams. */
  readonly watts: number | null;
}

/** What the ledger keeps of one object under a policy. */
interface Entry extends Booking {
  readonly group: string;
  /** `plural/namespace/name`, for the HPA lookup. */
  readonly key: string;
  /** Replicas its HPA reports running, when HPAs are read and the object has watts. */
  running: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Totals of one namespace, policy and mode: gauges as they stand, counters as they grew. */
interface Group {
  readonly row: Mutable<Omit<LedgerRow, 'held' | 'grams'>>;
  /** Objects with watts, and the sums of replicas x watts that hold until the next change. */
  powered: number;
  capWatts: number;
  declaredWatts: number;
  runningWatts: number;
  readonly grams: Map<string, Mutable<LedgerGrams>>;
}

/** Joules per kWh: replicas x W x seconds / 3.6e6 is kWh, and kWh x gCO2eq/kWh is grams. */
const JOULES_PER_KWH = 3_600_000;

/** ∫ intensity dt over [from, to] in gCO2eq/kWh × seconds; time no point covers adds nothing. */
export function intensitySeconds(snapshot: CarbonSnapshot, from: number, to: number): number {
  let sum = 0;
  for (const p of snapshot.points) {
    const start = Math.max(from, p.timestamp);
    const end = Math.min(to, p.timestamp + p.durationMinutes * 60_000);
    if (end > start) sum += (p.gCO2eqPerKWh * (end - start)) / 1000;
  }
  return sum;
}

export interface LedgerOptions {
  clock: Clock;
  carbon: CarbonReader;
  /** With HPA reading on: whether the ScaledObject's HPA runs at `cap`. */
  heldAt?: (namespace: string, name: string, cap: number) => boolean;
  /** With HPA reading on: the replicas the ScaledObject's HPA reports running. */
  running?: (namespace: string, name: string) => number | undefined;
}

/**
 * The carbon ledger: per namespace, policy and mode, how many objects, their declared max
 * and cap (in observe mode the cap the policy would set), and those integrated over time:
 * replica-seconds, plain and weighted by the grid intensity, and for objects with watts per
 * replica the estimated grams CO2eq, by the intensity's signal. The controller reports every
 * object it decides, and the HPA cache every change of the replicas running; between two
 * reports the sums are constant (the controller wakes at every moment a cap can change),
 * and the intensity is integrated exactly over the data points. Held by the leader only.
 */
export class Ledger {
  private readonly entries = new Map<string, Entry>();
  private readonly groups = new Map<string, Group>();
  private lastAt: number | undefined;

  constructor(private readonly o: LedgerOptions) {}

  /** The object `key` is decided as `b` says. */
  set(key: string, b: Booking): void {
    const group = `${b.namespace}\u0000${b.policy}\u0000${b.mode}`;
    const before = this.entries.get(key);
    if (
      before &&
      before.group === group &&
      before.cap === b.cap &&
      before.inForce === b.inForce &&
      before.declared === b.declared &&
      before.watts === b.watts
    ) {
      return;
    }
    this.advance();
    if (before) this.apply(before, -1);
    const entry: Entry = { ...b, group, key, running: 0 };
    entry.running = this.runningOf(entry);
    this.entries.set(key, entry);
    if (!this.groups.has(group)) this.groups.set(group, newGroup(b));
    this.apply(entry, 1);
  }

  /** The object is gone, out of scope or without a policy. */
  delete(key: string): void {
    const before = this.entries.get(key);
    if (!before) return;
    this.advance();
    this.apply(before, -1);
    this.entries.delete(key);
  }

  /** The HPA of ScaledObject `namespace/name` changed: book the replicas it runs from now on. */
  hpaChanged(namespace: string, name: string): void {
    const e = this.entries.get(`scaledobjects/${namespace}/${name}`);
    if (!e || this.runningOf(e) === e.running) return;
    this.advance();
    this.setRunning(e);
  }

  /** The HPAs were listed (again): every object's running replicas, from now on. */
  hpasListed(): void {
    this.advance();
    for (const e of this.entries.values()) this.setRunning(e);
  }

  /** Leadership lost: export nothing; the next leader starts its counters from zero. */
  clear(): void {
    this.entries.clear();
    this.groups.clear();
    this.lastAt = undefined;
  }

  /** Every group, its counters brought up to now. A group whose objects all left keeps its counters. */
  rows(): LedgerRow[] {
    this.advance();
    const held = this.o.heldAt ? this.heldByGroup(this.o.heldAt) : undefined;
    return [...this.groups.entries()].map(([id, g]) => {
      const row: Mutable<LedgerRow> = { ...g.row };
      if (held) row.held = held.get(id) ?? 0;
      if (g.grams.size > 0) row.grams = [...g.grams.values()].map((x) => ({ ...x }));
      return row;
    });
  }

  /** ScaledObjects whose HPA runs at the maxReplicaCount in force, per group (ScaledJobs have no HPA). */
  private heldByGroup(heldAt: (namespace: string, name: string, cap: number) => boolean): Map<string, number> {
    const held = new Map<string, number>();
    for (const e of this.entries.values()) {
      const [plural, namespace, name] = e.key.split('/');
      if (plural === 'scaledobjects' && heldAt(namespace!, name!, e.inForce)) held.set(e.group, (held.get(e.group) ?? 0) + 1);
    }
    return held;
  }

  private runningOf(e: Entry): number {
    const [plural, namespace, name] = e.key.split('/');
    if (!this.o.running || e.watts === null || plural !== 'scaledobjects') return 0;
    return this.o.running(namespace!, name!) ?? 0;
  }

  private setRunning(e: Entry): void {
    const running = this.runningOf(e);
    this.groups.get(e.group)!.runningWatts += (running - e.running) * (e.watts ?? 0);
    e.running = running;
  }

  private apply(e: Entry, sign: 1 | -1): void {
    const g = this.groups.get(e.group)!;
    g.row.objects += sign;
    g.row.cap += sign * e.cap;
    g.row.declared += sign * e.declared;
    if (e.watts === null) return;
    g.powered += sign;
    g.capWatts += sign * e.cap * e.watts;
    g.declaredWatts += sign * e.declared * e.watts;
    g.runningWatts += sign * e.running * e.watts;
  }

  /** Add the time since the last change, at the sums that held over it. */
  private advance(): void {
    const now = this.o.clock.now();
    const from = this.lastAt;
    this.lastAt = now;
    if (from === undefined || now <= from) return;
    const seconds = (now - from) / 1000;
    const snapshot = this.o.carbon.snapshot();
    const weighted = intensitySeconds(snapshot, from, now);
    const kWhIntensity = weighted / JOULES_PER_KWH;
    for (const g of this.groups.values()) {
      const r = g.row;
      r.capSeconds += r.cap * seconds;
      r.declaredSeconds += r.declared * seconds;
      r.withheldSeconds += (r.declared - r.cap) * seconds;
      r.capIntensitySeconds += r.cap * weighted;
      r.declaredIntensitySeconds += r.declared * weighted;
      if (g.powered > 0) this.bookGrams(g, snapshot.signal ?? 'unknown', kWhIntensity);
    }
  }

  private bookGrams(g: Group, signal: string, kWhIntensity: number): void {
    let grams = g.grams.get(signal);
    if (!grams) {
      grams = { signal, cap: 0, declared: 0, withheld: 0, ...(this.o.running ? { emitted: 0 } : {}) };
      g.grams.set(signal, grams);
    }
    grams.cap += g.capWatts * kWhIntensity;
    grams.declared += g.declaredWatts * kWhIntensity;
    grams.withheld += (g.declaredWatts - g.capWatts) * kWhIntensity;
    if (grams.emitted !== undefined) grams.emitted += g.runningWatts * kWhIntensity;
  }
}

function newGroup(b: Booking): Group {
  const row = {
    namespace: b.namespace,
    policy: b.policy,
    mode: b.mode,
    objects: 0,
    declared: 0,
    cap: 0,
    capSeconds: 0,
    capIntensitySeconds: 0,
    declaredSeconds: 0,
    declaredIntensitySeconds: 0,
    withheldSeconds: 0,
  };
  return { row, powered: 0, capWatts: 0, declaredWatts: 0, runningWatts: 0, grams: new Map() };
}
