import { FieldError } from '../core/field-error.js';

/** A configuration problem, always naming the key (`intensity.refreshInterval`) and the rule. */
export class ConfigError extends FieldError {}
