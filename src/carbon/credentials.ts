import { readFile as fsReadFile } from 'node:fs/promises';
import { fsReason } from '../util/fs-reason.js';
import { SourceError } from './errors.js';

export interface CredentialDeps {
  env: Record<string, string | undefined>;
  readFile?: (path: string) => Promise<string>;
}

/** Where one credential comes from: the config names an environment variable or a mounted file. */
export interface CredentialRef {
  /** Config key of the variable, for messages, e.g. `intensity.tokenEnv`. */
  envKey: string;
  envName?: string;
  fileKey: string;
  filePath?: string;
}

/**
 * Read a credential at fetch time, so a rotated Secret is picked up without a restart.
 * Messages name the variable or file and the config key, never the value.
 */
export async function readCredential(ref: CredentialRef, deps: CredentialDeps): Promise<string> {
  if (ref.filePath !== undefined) {
    let text: string;
    try {
      text = await (deps.readFile ?? ((p: string) => fsReadFile(p, 'utf8')))(ref.filePath);
    } catch (err) {
      throw new SourceError('config', `${ref.fileKey}: cannot read credential file ${ref.filePath}: ${fsReason(err)}`);
    }
    const value = text.trim();
    if (value === '') throw new SourceError('config', `${ref.fileKey}: credential file ${ref.filePath} is empty`);
    return value;
  }
  if (ref.envName !== undefined) {
    const value = deps.env[ref.envName]?.trim();
    if (!value) throw new SourceError('config', `${ref.envKey}: environment variable ${ref.envName} is not set or empty`);
    return value;
  }
  throw new SourceError('config', `${ref.envKey}: no credential configured (set ${ref.envKey} or ${ref.fileKey})`);
}
