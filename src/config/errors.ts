import { FieldError } from '../core/field-error.js';

/** A configuration problem, always naming the key (`intensity.refreshInterval`) and the rule. */
export class ConfigError extends FieldError {
  /** The configuration's word for the field: callers and tests name the key that was wrong. */
  get key(): string {
    return this.field;
  }
}
