import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The kubelet's layout for a ConfigMap or Secret volume: visible names link through `..data`. */
export async function publish(dir: string, files: Record<string, string>, generation: number): Promise<void> {
  const versioned = `..gen_${generation}`;
  await mkdir(join(dir, versioned));
  for (const [name, body] of Object.entries(files)) await writeFile(join(dir, versioned, name), body);
  await symlink(versioned, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
