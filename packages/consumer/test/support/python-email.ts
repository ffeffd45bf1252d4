import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** A mailbox as Python reads it, its display name decoded by `email.header` (RFC 2047), see read_email.py. */
export interface PythonMailbox {
  readonly name: string;
  readonly email: string;
}

/** One attachment (a leaf part with a Content-Disposition) as Python's `email` reads it. */
export interface PythonAttachment {
  readonly contentType: string;
  /** Content-Type parameters, decoded (RFC 2231 and continuations joined). */
  readonly typeParams: Readonly<Record<string, string>>;
  readonly disposition: string;
  readonly dispositionParams: Readonly<Record<string, string>>;
  readonly transferEncoding: string;
  readonly contentId: string;
  /** The decoded bytes in base64; for message/rfc822, the attached message's subject and text. */
  readonly content: string | { readonly subject: string; readonly text: string };
}

/** What Python's `email` package (policy.default) read from one message. */
export interface PythonReading {
  /** Every defect the parser recorded, on any part or header, as `part N (type): [header: ]Defect: text`. */
  readonly defects: readonly string[];
  readonly subject: string;
  readonly from: readonly PythonMailbox[];
  readonly to: readonly PythonMailbox[];
  readonly cc: readonly PythonMailbox[];
  readonly replyTo: readonly PythonMailbox[];
  readonly attachments: readonly PythonAttachment[];
}

const SCRIPT = path.join(__dirname, 'read_email.py');

/**
 * Python's standard `email` parser with `policy.default`, as a standards check on the messages the
 * adapters send: one `python3` process (support/read_email.py) reading one message at a time.
 * Python 3 is on Debian and Ubuntu machines and GitHub's runners; when it is missing, `start`
 * fails saying so rather than the test passing without the check.
 */
export class PythonEmailReader {
  private readonly pending: {
    resolve(reading: PythonReading): void;
    reject(error: Error): void;
  }[] = [];
  private failure: Error | undefined;
  /** Settles when the process has exited, or could not start. */
  private readonly ended: Promise<void>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.ended = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
    };
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      fail(
        error.code === 'ENOENT'
          ? new Error(
              'python3 is not on PATH: the MIME conformance test reads messages with Python 3 (apt-get install python3)',
            )
          : error,
      ),
    );
    // Writing to a reader that has gone fails the reads, not the test process.
    child.stdin.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`read_email.py exited (${code ?? signal}): ${stderr.trim()}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reading = JSON.parse(line) as PythonReading | { error: string };
      const waiter = this.pending.shift();
      if ('error' in reading) waiter?.reject(new Error(`Python could not read the message: ${reading.error}`));
      else waiter?.resolve(reading);
    });
  }

  /** Starts the reader; stop it with {@link close}. */
  static start(): PythonEmailReader {
    return new PythonEmailReader(spawn('python3', [SCRIPT], { stdio: 'pipe' }));
  }

  /** What Python reads from this message (as sent on the wire). */
  read(raw: Buffer): Promise<PythonReading> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<PythonReading>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(`${raw.toString('base64')}\n`);
    });
  }

  /** Ends the reader's input and waits for it to exit. */
  async close(): Promise<void> {
    this.child.stdin.end();
    await this.ended;
  }
}
