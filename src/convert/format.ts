import { stringify } from 'yaml';
import { ANNOTATION } from '../core/names.js';
import { AZURE_KIND, type Conversion, type ConvertedPolicy } from './azure.js';

// How a conversion is printed: `kubectl annotate` lines or kustomize patches. azure.ts reads
// and converts; this file only writes.

/** POSIX shell single quotes: safe for any text, a `'` written as `'\''`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The policy as the annotation holds it: compact JSON (JSON is YAML), one line for a shell. */
export function annotationValue(policy: ConvertedPolicy): string {
  return JSON.stringify(policy);
}

function header(c: Conversion): string[] {
  return [`# ${AZURE_KIND} ${c.scaler} -> ${c.target.kind} ${c.target.namespace}/${c.target.name}`, ...c.notes.map((n) => `# note: ${n}`)];
}

/** `kubectl annotate` lines, each preceded by its notes as shell comments. */
export function formatAnnotate(conversions: readonly Conversion[]): string {
  return `${conversions
    .map((c) =>
      [
        ...header(c),
        `kubectl annotate ${c.target.kind.toLowerCase()} -n ${c.target.namespace} ${c.target.name} ${ANNOTATION.environmentalImpact}=${shellQuote(annotationValue(c.policy))} --overwrite`,
      ].join('\n'),
    )
    .join('\n\n')}\n`;
}

/**
 * Kustomize patches (strategic merge, one YAML document per target) that add the
 * annotation; list the file under `patches:` in a kustomization. The policy is written as
 * a YAML block in the annotation, which reads better in a repository than one JSON line.
 */
export function formatPatch(conversions: readonly Conversion[]): string {
  return conversions
    .map((c) => {
      const body = stringify(
        {
          apiVersion: 'keda.sh/v1alpha1',
          kind: c.target.kind,
          metadata: { name: c.target.name, namespace: c.target.namespace, annotations: { [ANNOTATION.environmentalImpact]: stringify(c.policy) } },
        },
        { lineWidth: 0 },
      );
      return `---\n${header(c).join('\n')}\n${body}`;
    })
    .join('');
}
