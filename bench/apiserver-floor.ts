/**
 * The two things the apiserver benchmark sets beside `serve`: the bare webhook (the floor any
 * webhook pays on this machine, bench/bare-webhook.ts) and the CPU profile of `serve`, split by
 * where its time went in each timed run (bench/serve-profile.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Profile, perWrite, splitWindow } from './serve-profile.js';

export interface Bare {
  child: ChildProcess;
  port: number;
  /** Base64 PEM of the CA that signed its serving certificate. */
  caBundle: string;
  stop(): Promise<void>;
}

/** Starts bench/bare-webhook.js with its certificates in `dir`, answering with `cap`; `h2` offers HTTP/2 as well. */
export async function startBare(dir: string, cap: number, h2: boolean): Promise<Bare> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./bare-webhook.js', import.meta.url)), dir, String(cap), ...(h2 ? ['h2'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the bare webhook exited with ${code} before listening`)));
  });
  const { port, caFile } = JSON.parse(first) as { port: number; caFile: string };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    port,
    caBundle: (await readFile(caFile)).toString('base64'),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Profiling flags for serve: a sample every `intervalUs`, written to `dir` when it exits. */
export const profileArgs = (dir: string, intervalUs: number) => ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${intervalUs}`];

export interface Window {
  phase: string;
  fromUs: number;
  toUs: number;
  writes: number;
  serveCpuMsPerWrite: number;
}

/** One line per timed run: serve's CPU per write, by area, from the profile it wrote on exit. */
export async function profileFigures(dir: string, windows: Window[]): Promise<Array<Record<string, unknown>>> {
  const file = (await readdir(dir).catch(() => [])).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [{ figure: 'serve CPU by area', error: `serve wrote no profile into ${dir}` }];
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile;
  return windows.map((w) => {
    const split = splitWindow(profile, w.fromUs, w.toUs);
    // The sampled main thread, not the process's CPU from /proc: that also counts the
    // profiler's own sampling thread, which costs more than the areas it splits.
    const mainMsPerWrite = split.busyMs / w.writes;
    return {
      figure: 'serve CPU by area',
      phase: w.phase,
      serveCpuMsPerWriteProfiled: w.serveCpuMsPerWrite,
      mainThreadMsPerWrite: Math.round(mainMsPerWrite * 1000) / 1000,
      msPerWrite: perWrite(split, mainMsPerWrite),
      percent: split.shares,
    };
  });
}
