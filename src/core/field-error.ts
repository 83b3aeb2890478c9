/**
 * A document that broke a rule: `field` names where (`carbon[0].measuredEmission`, empty for
 * the whole document) and `rule` what was wrong, so the message reads `field: rule`.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(field ? `${field}: ${rule}` : rule);
    this.name = new.target.name;
  }
}
