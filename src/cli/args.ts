import { z } from 'zod';

/** `--name value`, `--name=value` and bare `--flag` (= true) into an object for a zod schema. */
export function parseArgs<T extends z.ZodTypeAny>(schema: T, argv: string[], usage: string): z.infer<T> {
  const raw: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m) {
      positional.push(arg);
      continue;
    }
    const key = m[1].replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (m[2] !== undefined) raw[key] = m[2];
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) raw[key] = argv[++i];
    else raw[key] = true;
  }
  const parsed = schema.safeParse({ ...raw, ...(positional.length ? { _: positional } : {}) });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${i.message}`);
    console.error(`${problems.join('\n')}\n\n${usage}`);
    process.exit(2);
  }
  return parsed.data;
}

export const share = z.coerce.number().min(0).max(1);
