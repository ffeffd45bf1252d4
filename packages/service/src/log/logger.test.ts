import { PassThrough } from 'node:stream';
import { createLogger } from './logger';

/** A logger writing to memory, and the JSON lines it wrote. */
function capture(level: string, silent = false) {
  const destination = new PassThrough();
  let text = '';
  destination.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const logger = createLogger({ service: 'test-service', level, silent, destination });
  const lines = () =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines };
}

describe('createLogger', () => {
  it('when a line is logged, then it is one JSON object with level, message, service, timestamp and the fields', async () => {
    const { logger, lines } = capture('info');

    logger.info('email accepted', { email_id: 'e1', count: 2 });
    await logger.flush();

    expect(lines()).toEqual([
      {
        level: 'info',
        message: 'email accepted',
        service: 'test-service',
        email_id: 'e1',
        count: 2,
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    ]);
  });

  it('when the level is warn, then only warnings and errors are written', async () => {
    const { logger, lines } = capture('warn');

    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e', { error: 'boom' });
    await logger.flush();

    expect(lines().map((line) => [line['level'], line['message']])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('when it is silent, then nothing is written', async () => {
    const { logger, lines } = capture('debug', true);

    logger.error('e');
    await logger.flush();

    expect(lines()).toEqual([]);
  });

  it('when many lines are logged just before a flush, then the flush resolves after every one is written', async () => {
    const { logger, lines } = capture('info');

    for (let i = 0; i < 1000; i += 1) logger.info('line', { i });
    await logger.flush();

    expect(lines().map((line) => line['i'])).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('when it is flushed twice, then both flushes resolve', async () => {
    const { logger } = capture('info');

    await expect(Promise.all([logger.flush(), logger.flush()])).resolves.toEqual([undefined, undefined]);
  });
});
