import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (process.env.KEDA_CARBON_TEST_IMPORTS) appendFileSync(process.env.KEDA_CARBON_TEST_IMPORTS, `${resolved.url}\n`);
  return resolved;
}
