import { fileURLToPath } from 'node:url';
import t from 'tap';
import { main } from '../../src/cli/main.js';

// The worked example of the README, run through `explain` on docs/examples/scaledobject.yaml,
// so the table a user reads is the table the code produces.
const EXAMPLE = fileURLToPath(new URL('../../docs/examples/scaledobject.yaml', import.meta.url));

async function capAt(at: string, intensity: number): Promise<{ cap: number; ecoMode: string }> {
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {} };
  const code = await main(['explain', '-f', EXAMPLE, '--intensity', String(intensity), '--at', at, '-o', 'json'], io);
  if (code !== 0) throw new Error(`explain exited ${code}`);
  const [result] = JSON.parse(out);
  return { cap: result.plan.maxReplicaCount, ecoMode: result.plan.decision.ecoMode };
}

t.test('README worked example (Berlin times, November: UTC+1)', async (t) => {
  const rows: Array<[string, string, number, number, string]> = [
    ['Mon 03:00, 180 g: below every rule', '2026-11-23T02:00:00Z', 180, 40, 'on'],
    ['Mon 12:00, 300 g: exactly on a threshold', '2026-11-23T11:00:00Z', 300, 20, 'on'],
    ['Mon 12:30, 412.3 g', '2026-11-23T11:30:00Z', 412.3, 20, 'on'],
    ['Mon 18:00, 560 g', '2026-11-23T17:00:00Z', 560, 10, 'on'],
    ['Mon 08:30, 560 g: the schedule matches', '2026-11-23T07:30:00Z', 560, 40, 'off'],
    ['Sat 08:30, 560 g: Monday-Friday only', '2026-11-28T07:30:00Z', 560, 10, 'on'],
  ];
  for (const [name, at, intensity, cap, eco] of rows) {
    const r = await capAt(at, intensity);
    t.equal(r.cap, cap, `${name}: cap ${cap}`);
    t.equal(r.ecoMode, eco, `${name}: eco mode ${eco}`);
  }
});
