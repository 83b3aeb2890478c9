/**
 * `npm run bench`: every benchmark, printed as JSON with the machine it ran on. The
 * figures (and this command) are recorded in docs/benchmarks.md.
 */
import { cpus, totalmem } from 'node:os';
import { runAdmissionBench, runHandlerMicroBench } from './admission.js';

const only = process.argv[2];
const duration = Number(process.env.BENCH_DURATION ?? 5);

async function main(): Promise<void> {
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) };
  process.stdout.write(`${JSON.stringify({ machine })}\n`);
  if (!only || only === 'admission') {
    const handler = await runHandlerMicroBench();
    process.stdout.write(`${JSON.stringify({ handler })}\n`);
    const admission = await runAdmissionBench(duration, Number(process.env.BENCH_ROUNDS ?? 3));
    process.stdout.write(`${JSON.stringify({ admission }, null, 2)}\n`);
  }
  if (only === 'soak') {
    // Minutes long, so only on request: `npm run bench -- soak`.
    const { runSoakBench } = await import('./soak.js');
    process.stdout.write(`${JSON.stringify({ soak: await runSoakBench() }, null, 2)}\n`);
    return;
  }
  if (!only || only === 'startup') {
    // Starts the built CLI: `npm run build` first.
    const { runStartupBench } = await import('./startup.js');
    process.stdout.write(`${JSON.stringify({ startup: await runStartupBench() })}\n`);
  }
  if (!only || only === 'sweep') {
    try {
      // Imported by name at run time: the sweep benchmark lives with the cluster code.
      const sweepModule = './sweep.js';
      const { runSweepBench } = (await import(sweepModule)) as { runSweepBench: () => Promise<Record<string, number>> };
      process.stdout.write(`${JSON.stringify({ sweep: await runSweepBench() }, null, 2)}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
      process.stdout.write('{"sweep": "not built"}\n');
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${String(err?.stack ?? err)}\n`);
  process.exitCode = 1;
});
