import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

// From the TypeScript sources under tap, from the compiled copy under the benchmarks
// (tsconfig.bench.json builds this helper beside src/ in .bench-build).
const MAIN = fileURLToPath(new URL(`../../src/cli/main.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  /** Every JSON log line seen so far. */
  logs: Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Start `keda-carbon serve` as a separate process (the TypeScript loader tap runs us with
 * is passed on through execArgv) and wait until it says where it listens.
 */
export async function startServe(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 30_000,
  /** Node options after the inherited ones (an `--import` here runs its hooks first). */
  nodeArgs: string[] = [],
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...nodeArgs, MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', ...args],
    {
      env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', KEDA_CARBON_LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<{ port: number; metricsPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'keda-carbon webhook listening') {
        clearTimeout(timer);
        resolve({ port: entry.port as number, metricsPort: entry.metricsPort as number });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
  const { port, metricsPort } = await ready.catch((err: unknown) => {
    // A serve that never said where it listens would outlive the test run.
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    port,
    metricsPort,
    logs,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
