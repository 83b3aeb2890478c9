/**
 * Waits until `cond()` holds, checking every `everyMs` (10 ms); throws naming `what` after `ms`.
 * `cond` may be async (a request to a server that has no event to wait on); an async check
 * that throws counts as not yet.
 * A generous bound: it only decides how long a broken test takes to fail.
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000, everyMs = 10): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
