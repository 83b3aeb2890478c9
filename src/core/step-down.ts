import type { StepDown } from './policy-document.js';

/**
 * Step-down (PRODUCT.md section 1, `stepDown`): the HPA scales straight down to a lowered
 * max, so a falling cap is taken away in slices. The state between two steps is the cap in
 * force and the time of the next step, both kept on the object (its spec and its status
 * annotation), so every caller reads the same state and no process has to remember it.
 */

/** The cap in force before a decision, and while a step-down runs, when its next step is due. */
export interface InForce {
  readonly cap: number;
  /** Epoch ms of the next step; null when no step-down is running. */
  readonly nextStepAt: number | null;
}

/** A step-down under way: the cap it is heading for and when the next step comes. */
export interface Stepping {
  readonly target: number;
  readonly nextStepAt: number;
}

/** One step from `cap`: `maxPercent` of it, rounded down, but at least one replica. */
export function stepSize(cap: number, maxPercent: number): number {
  return Math.max(1, Math.floor((cap * maxPercent) / 100));
}

/**
 * The cap to apply at `now` when the decision's own cap is `target`. A cap that rises (or
 * stays) applies at once and ends any step-down. A fall takes one step at once, and each
 * later step when the previous one's `nextStepAt` has come; before then the cap in force
 * stays and so does the time of the next step, whoever writes the object in between.
 */
export function stepTowards(rule: StepDown, inForce: InForce, target: number, now: number): { cap: number; step: Stepping | null } {
  if (target >= inForce.cap) return { cap: target, step: null };
  if (inForce.nextStepAt !== null && now < inForce.nextStepAt) return { cap: inForce.cap, step: { target, nextStepAt: inForce.nextStepAt } };
  const cap = Math.max(target, inForce.cap - stepSize(inForce.cap, rule.maxPercent));
  return { cap, step: cap > target ? { target, nextStepAt: now + rule.everyMs } : null };
}

/** The reason's tail while a step-down runs, e.g. `step-down 40 -> 20 towards 4, next step at ...`. */
export function stepText(from: number, cap: number, step: Stepping): string {
  const next = new Date(step.nextStepAt).toISOString();
  return from === cap
    ? `step-down holds ${cap} towards ${step.target} until ${next}`
    : `step-down ${from} -> ${cap} towards ${step.target}, next step at ${next}`;
}

/** A decision with the step applied: the step as its cap, the band's cap as the step's target. */
export function stepped<D extends { readonly cap: number; readonly reason: string; readonly step: Stepping | null }>(
  d: D,
  rule: StepDown,
  inForce: InForce,
  now: number,
): D {
  const s = stepTowards(rule, inForce, d.cap, now);
  return s.step ? { ...d, cap: s.cap, step: s.step, reason: `${d.reason}; ${stepText(inForce.cap, s.cap, s.step)}` } : d;
}
