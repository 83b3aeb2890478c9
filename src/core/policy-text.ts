import { parse as parseYaml } from 'yaml';
import { clip } from './brief.js';
import { yamlProblem } from './yaml-error.js';
import { type Policy, POLICY_LIMITS, PolicyError, validatePolicy } from './policy-document.js';

/**
 * A policy written as text (the annotation): the hostile-input guards that run before the
 * YAML parser sees the text, then the parser, then the one validator.
 */

/** UTF-8 length without encoding: the limit is checked before anything else reads the text. */
function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Two extra bytes below the surrogates and above them; a surrogate pair is two units, four bytes.
    if (c >= 0x80) bytes += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/** Block indicators at the start of a line's content (`- - x`, `? key`): each opens a level. */
function leadingIndicators(line: string, from: number): number {
  let count = 0;
  let i = from;
  while (i < line.length && (line[i] === '-' || line[i] === '?' || line[i] === ':') && (i + 1 === line.length || line[i + 1] === ' ' || line[i + 1] === '\t')) {
    count++;
    i += 2;
    while (line[i] === ' ' || line[i] === '\t') i++;
  }
  return count;
}

/**
 * How deeply the text nests, estimated in one pass without parsing: indentation levels
 * plus block indicators plus open brackets (counted even inside quotes and comments,
 * which only ever overestimates). The YAML parser recurses per level and overflows the
 * stack about a thousand levels down; at worst that aborts the process rather than
 * throwing, so the estimate must come first. Compact sequences (`key:` then `- item` at the same indent)
 * are counted once per two levels; the limit leaves room for that.
 */
export function estimateDepth(text: string): number {
  const indents: number[] = [];
  let flow = 0;
  let deepest = 0;
  // YAML breaks lines at CR as well as LF; a text with CR alone must not look like one line.
  for (const line of text.split(/\r\n?|\n/)) {
    let indent = 0;
    while (line[indent] === ' ' || line[indent] === '\t') indent++;
    if (indent === line.length) continue;
    if (flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
    }
    const block = indents.length + leadingIndicators(line, indent);
    deepest = Math.max(deepest, block + flow);
    for (let i = indent; i < line.length; i++) {
      const ch = line[i];
      if (ch === '[' || ch === '{') deepest = Math.max(deepest, block + ++flow);
      else if ((ch === ']' || ch === '}') && flow > 0) flow--;
    }
  }
  return deepest;
}

const HUGE_TEXT = 256 * 1024;

/** The checks that come before the YAML parser sees the text. */
export function checkTextLimits(text: string): void {
  const limit = `the limit is ${POLICY_LIMITS.textBytes} bytes (${POLICY_LIMITS.textBytes / 1024} KiB)`;
  // Beyond the API server's own 256 KiB for all annotations, the length says enough.
  if (text.length > HUGE_TEXT) throw new PolicyError('', `the policy text is over ${HUGE_TEXT / 1024} KiB; ${limit}`);
  const bytes = utf8Bytes(text);
  if (bytes > POLICY_LIMITS.textBytes) throw new PolicyError('', `the policy text is ${bytes} bytes; ${limit}`);
  if (estimateDepth(text) > POLICY_LIMITS.depth) {
    throw new PolicyError('', `the policy nests more than ${POLICY_LIMITS.depth} levels of mappings, lists or brackets`);
  }
}

/** Parse a policy written as YAML or JSON (JSON is YAML), as found in an annotation. */
export function parsePolicyText(text: string): Policy {
  checkTextLimits(text);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: POLICY_LIMITS.aliases });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    if (/alias count/i.test(message)) {
      throw new PolicyError('', `its YAML aliases expand too far (at most ${POLICY_LIMITS.aliases} aliased nodes)`);
    }
    throw new PolicyError('', clip(yamlProblem(err, 'YAML or JSON')));
  }
  return validatePolicy(doc);
}
