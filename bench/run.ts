/**
 * `npm run bench`: every benchmark, one after the other; `npm run bench -- NAME` for one.
 * Each figure is printed as one JSON line, after a line naming the machine. The figures
 * (and this command) are recorded in docs/benchmarks.md.
 *
 * A benchmark that cannot run here (apiserver without the control plane scripts) says so
 * in its line and makes the exit status non-zero; the others still run.
 */
import { cpus, loadavg, totalmem } from 'node:os';

const line = (figure: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(figure)}\n`);

/** In the order `npm run bench` runs them; each returns false when it could not run. */
const BENCHMARKS: Record<string, () => Promise<boolean | undefined>> = {
  async admission() {
    const { runAdmissionBench, runHandlerMicroBench, runOutcomeLineMicroBench } = await import('./admission.js');
    line({ handler: await runHandlerMicroBench() });
    line({ outcomeLine: await runOutcomeLineMicroBench() });
    line({ admission: await runAdmissionBench(Number(process.env.BENCH_DURATION ?? 5), Number(process.env.BENCH_ROUNDS ?? 3)) });
    return true;
  },
  async startup() {
    // Starts the built CLI: `npm run build` first.
    const { runStartupBench } = await import('./startup.js');
    line({ startup: await runStartupBench() });
    return true;
  },
  async sweep() {
    const { runSweepBenches } = await import('./sweep.js');
    return runSweepBenches(line);
  },
  async footprint() {
    const { runFootprintBench } = await import('./footprint.js');
    line({ footprint: await runFootprintBench() });
    return true;
  },
  async rate() {
    const { runRateBench } = await import('./rate.js');
    line({ rate: await runRateBench() });
    return true;
  },
  async soak() {
    const { runSoakBench } = await import('./soak.js');
    line({ soak: await runSoakBench() });
    return true;
  },
  async wakeup() {
    const { runWakeupBench } = await import('./wakeup.js');
    line({ wakeup: await runWakeupBench() });
    return true;
  },
  async apiserver() {
    const { runApiserverBench } = await import('./apiserver.js');
    return runApiserverBench();
  },
};

async function main(): Promise<void> {
  const only = process.argv[2];
  if (only && !(only in BENCHMARKS)) {
    process.stderr.write(`no benchmark "${only}"; there are: ${Object.keys(BENCHMARKS).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  line({
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    },
  });
  for (const [name, run] of Object.entries(BENCHMARKS)) {
    if (only && name !== only) continue;
    if ((await run()) === false) process.exitCode = 2;
  }
}

main().then(
  // Keep-alive sockets and the children's pipes would otherwise hold the process open.
  () => process.exit(),
  (err) => {
    process.stderr.write(`${String(err?.stack ?? err)}\n`);
    process.exit(1);
  },
);
