import type { Logger } from '../log.js';
import type { ControllerMetrics } from '../ports.js';
import type { ControllerCounts } from './reconcile.js';

/**
 * `sweep`: every object after a list; `cache`: every object (or those whose cap moves) from
 * the cache alone; `namespace`: the objects of relabelled namespaces.
 */
export type PassKind = 'sweep' | 'cache' | 'namespace';

interface Pass {
  readonly reasons: string[];
  readonly namespaces: Set<string>;
  readonly before: ControllerCounts;
  readonly started: number;
  objects: number;
  ending: boolean;
}

export interface PassReportsDeps {
  counts: ControllerCounts;
  logger: Logger;
  metrics: ControllerMetrics;
  /** Resolves when the work queue has nothing ready and nothing running. */
  idle(): Promise<void>;
}

/**
 * The log line and metrics of a batch of keys enqueued together, written once the queue
 * has worked them off, with what the reconciles did meanwhile. Batches of one kind that
 * overlap are reported as one, naming every reason.
 */
export class PassReports {
  private readonly open = new Map<PassKind, Pass>();

  constructor(private readonly d: PassReportsDeps) {}

  /** Call before enqueueing the batch's keys. */
  begin(kind: PassKind, reason: string, objects: number, namespace?: string): void {
    let p = this.open.get(kind);
    if (!p) {
      p = { reasons: [], namespaces: new Set(), before: { ...this.d.counts }, started: performance.now(), objects: 0, ending: false };
      this.open.set(kind, p);
    }
    if (!p.reasons.includes(reason)) p.reasons.push(reason);
    if (namespace !== undefined) p.namespaces.add(namespace);
    p.objects += objects;
  }

  /** The batch is enqueued (for a sweep: every kind is listed); report it once the queue is idle. */
  end(kind: PassKind): void {
    const p = this.open.get(kind);
    if (!p || p.ending) return;
    p.ending = true;
    void this.d.idle().then(() => {
      if (this.open.get(kind) !== p) return;
      this.open.delete(kind);
      this.report(kind, p);
    });
  }

  /** Leadership ended: what was under way is not reported. */
  clear(): void {
    this.open.clear();
  }

  private report(kind: PassKind, p: Pass): void {
    const c = this.d.counts;
    const b = p.before;
    const m = this.d.metrics;
    const seen = c.evaluated - b.evaluated;
    const failed = c.failed - b.failed;
    const invalid = c.invalid - b.invalid;
    const queued = c.queued - b.queued;
    if (kind === 'namespace') {
      m.evaluations.inc({ trigger: 'change' });
      this.d.logger.info({ objects: p.objects, queued, invalid, namespaces: [...p.namespaces] }, 'objects of a relabelled namespace evaluated');
      return;
    }
    const ms = performance.now() - p.started;
    c.fullPasses++;
    m.evaluations.inc({ trigger: kind === 'sweep' ? 'list' : 'all' });
    if (kind === 'sweep') {
      c.relistPasses++;
      m.sweepObjects.inc({ outcome: 'seen' }, seen);
      m.sweepDuration.observe(ms / 1000);
      m.sweeps.inc({ result: failed === 0 ? 'ok' : 'error' });
    }
    const fields = {
      reason: p.reasons.join('; '),
      seen,
      queued,
      touched: c.touched - b.touched,
      changed: c.changed - b.changed,
      unapplied: c.unapplied - b.unapplied,
      failed,
      invalid,
      ms: Math.round(ms),
    };
    const msg = kind === 'sweep' ? 'sweep finished' : 'cache pass finished';
    if (failed === 0) this.d.logger.info(fields, msg);
    else this.d.logger.warn(fields, msg);
  }
}
