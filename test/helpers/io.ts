/** A command's IO that keeps what it writes: `io` to pass, `out()` and `err()` to read back. */
export function captureIO(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}
