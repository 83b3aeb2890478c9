import { parseLabelSelector } from '../config/label-selector.js';

export interface NamespaceLabels {
  labelsOf(namespace: string): Readonly<Record<string, string>> | undefined;
  policyFor(namespace: string): string | null | Promise<string | null>;
}

/**
 * `touch.namespaceSelector` as configured now (validated when the config loads, and
 * following hot reloads), read against the namespace cache's labels.
 */
export class NamespaceScope {
  private text: string | undefined;
  private matches: (labels: Readonly<Record<string, string>>) => boolean = () => true;

  constructor(private readonly namespaces: NamespaceLabels) {}

  /** True or false; a Promise when the namespace is not cached yet (it is looked up). */
  includes(namespace: string, selector: string): boolean | Promise<unknown> {
    if (selector !== this.text) {
      this.matches = parseLabelSelector(selector);
      this.text = selector;
    }
    const labels = this.namespaces.labelsOf(namespace);
    if (labels) return this.matches(labels);
    const lookup = this.namespaces.policyFor(namespace);
    // A namespace the API server does not know (deleted meanwhile) has no objects to touch.
    return lookup instanceof Promise ? lookup : false;
  }
}
