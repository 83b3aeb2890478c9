/** The policy document: its declaration, its validator and its text form (see policy-document.ts). */
export type { AllowedMax, Band, OnMissingData, RecurringSchedule } from './policy-rules.js';
export {
  DEFAULT_WINDOW,
  type Policy,
  type PolicyDocument,
  POLICY_LIMITS,
  PolicyError,
  type RelativeWindow,
  validatePolicy,
} from './policy-document.js';
export { checkTextLimits, estimateDepth, parsePolicyText } from './policy-text.js';
