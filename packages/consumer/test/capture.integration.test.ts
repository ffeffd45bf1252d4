import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaptureProvider } from '../src/providers/capture/send';
import { describeProviderConformance, parseMime } from './support/conformance';

describeProviderConformance(
  'capture',
  async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'mailer-capture-'));
    return {
      provider: new CaptureProvider(directory),
      received: async (id) => {
        const mime = await parseMime(await readFile(path.join(directory, `${id}.eml`)), []);
        const envelope = JSON.parse(await readFile(path.join(directory, `${id}.envelope.json`), 'utf8')) as {
          recipients: string[];
        };
        // Bcc recipients are in the envelope only, as with SMTP.
        const visible = new Set([...mime.to, ...mime.cc]);
        return { ...mime, bcc: envelope.recipients.filter((r) => !visible.has(r)) };
      },
      has: (id) => existsSync(path.join(directory, `${id}.eml`)),
      close: () => rm(directory, { recursive: true, force: true }),
    };
  },
  { canFail: false, connections: Number.POSITIVE_INFINITY },
);
