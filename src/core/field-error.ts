/**
 * A document that broke a rule: `field` names where (`carbon[0].measuredEmission`, empty for
 * the whole document), `rule` what was wrong, and `subject`, when given, which document
 * (a file, an object), so the message reads `subject: field: rule`. The one error of every
 * validator; its subclasses only say which kind of document it was.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
    readonly subject = '',
  ) {
    super(`${subject ? `${subject}: ` : ''}${field ? `${field}: ` : ''}${rule}`);
    this.name = new.target.name;
  }
}
