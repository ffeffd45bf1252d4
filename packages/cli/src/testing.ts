import type { Env } from '@mailer/config';
import type { Io } from './io';
import { run } from './program';

/** Runs a command line in-process with its output captured; `person` plays a terminal's user. */
export async function runCaptured(args: readonly string[], env: Env = {}, person?: Pick<Io, 'interactive' | 'ask'>) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    env,
    ...person,
  });
  return { code, stdout, stderr };
}
