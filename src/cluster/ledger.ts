import type { CarbonSnapshot } from '../core/carbon.js';
import type { CarbonReader, Clock, LedgerRow } from '../ports.js';

/** What the ledger keeps of one object under a policy. */
interface Entry {
  readonly group: string;
  /** `plural/namespace/name`, for the HPA lookup. */
  readonly key: string;
  readonly cap: number;
  readonly declared: number;
}

/** Totals of one namespace, policy and mode: gauges as they stand, counters as they grew. */
type Group = { -readonly [K in keyof LedgerRow]: LedgerRow[K] };

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

/**
 * The carbon ledger: per namespace, policy and mode, how many objects, their declared max
 * and cap in force, and those integrated over time (replica-seconds, plain and weighted by
 * the grid intensity). The controller reports every object it decides; between two reports
 * an object's cap is constant (the controller wakes at every moment a cap can change), and
 * the intensity is integrated exactly over the data points. Held by the leader only.
 */
export class Ledger {
  private readonly entries = new Map<string, Entry>();
  private readonly groups = new Map<string, Group>();
  private lastAt: number | undefined;

  constructor(private readonly o: { clock: Clock; carbon: CarbonReader; heldAt?: (namespace: string, name: string, cap: number) => boolean }) {}

  /** The object `key` is decided: `cap` in force, `declared` by its owner, under `policy` in `mode`. */
  set(key: string, namespace: string, policy: string, mode: string, cap: number, declared: number): void {
    const group = `${namespace}\u0000${policy}\u0000${mode}`;
    const before = this.entries.get(key);
    if (before && before.group === group && before.cap === cap && before.declared === declared) return;
    this.advance();
    if (before) this.apply(before, -1);
    const entry = { group, key, cap, declared };
    this.entries.set(key, entry);
    let g = this.groups.get(group);
    if (!g) {
      g = {
        namespace,
        policy,
        mode,
        objects: 0,
        declared: 0,
        cap: 0,
        capSeconds: 0,
        capIntensitySeconds: 0,
        declaredSeconds: 0,
        declaredIntensitySeconds: 0,
        withheldSeconds: 0,
      };
      this.groups.set(group, g);
    }
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
    return [...this.groups.entries()].map(([id, g]) => (held ? { ...g, held: held.get(id) ?? 0 } : { ...g }));
  }

  /** ScaledObjects whose HPA runs at the cap, per group (ScaledJobs have no HPA). */
  private heldByGroup(heldAt: (namespace: string, name: string, cap: number) => boolean): Map<string, number> {
    const held = new Map<string, number>();
    for (const e of this.entries.values()) {
      const [plural, namespace, name] = e.key.split('/');
      if (plural === 'scaledobjects' && heldAt(namespace!, name!, e.cap)) held.set(e.group, (held.get(e.group) ?? 0) + 1);
    }
    return held;
  }

  private apply(e: Entry, sign: 1 | -1): void {
    const g = this.groups.get(e.group)!;
    g.objects += sign;
    g.cap += sign * e.cap;
    g.declared += sign * e.declared;
  }

  /** Add the time since the last change, at the sums that held over it. */
  private advance(): void {
    const now = this.o.clock.now();
    const from = this.lastAt;
    this.lastAt = now;
    if (from === undefined || now <= from) return;
    const seconds = (now - from) / 1000;
    const weighted = intensitySeconds(this.o.carbon.snapshot(), from, now);
    for (const g of this.groups.values()) {
      g.capSeconds += g.cap * seconds;
      g.declaredSeconds += g.declared * seconds;
      g.withheldSeconds += (g.declared - g.cap) * seconds;
      g.capIntensitySeconds += g.cap * weighted;
      g.declaredIntensitySeconds += g.declared * weighted;
    }
  }
}
