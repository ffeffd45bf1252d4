import type { Env } from '@mailer/config';
import { run } from './program';

/** Runs a command line in-process with its output captured. */
export async function runCaptured(args: readonly string[], env: Env = {}) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    env,
  });
  return { code, stdout, stderr };
}
