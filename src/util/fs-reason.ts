const ERRNO: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

/** A file-system error said plainly: `no such file` rather than `ENOENT: no such file or directory, open ...`. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && ERRNO[code]) ?? (err as Error).message ?? String(err);
}
