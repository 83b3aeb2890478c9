/**
 * Waits until `cond()` holds, checking every 10 ms; throws naming `what` after `ms`.
 * A generous bound: it only decides how long a broken test takes to fail.
 */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
