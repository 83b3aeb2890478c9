/**
 * A JSON object: not null, not an array. Every parser of untrusted input asks this first;
 * the one definition lives with the schema walker in the core, which may import nothing.
 */
export { isPlainObject } from '../core/schema.js';
