import { EventEmitter } from 'node:events';
import { describeUnreachableBroker, explainUnreachableBroker } from './broker-hint';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' });
const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND mq.internal'), { code: 'ENOTFOUND' });
const loginRefused = new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED"');

describe('describeUnreachableBroker', () => {
  it('when a local broker refuses connections, then the line says so and how to start RabbitMQ', () => {
    expect(
      describeUnreachableBroker('amqp://guest:secret@127.0.0.1:5672', refused, 'POST answers 503 until it is'),
    ).toBe(
      'RabbitMQ is not reachable at 127.0.0.1:5672 (connection refused): POST answers 503 until it is; ' +
        'start it with `docker compose up rabbitmq`, or a local install with `systemctl start rabbitmq-server` ' +
        '(or `rabbitmq-server -detached`). Retrying in the background.',
    );
  });

  it.each(['amqp://localhost', 'amqp://[::1]:5673', 'amqp://127.0.0.2'])(
    'when the broker at %p is on this machine, then the line says how to start it',
    (url) => {
      expect(describeUnreachableBroker(url, refused, 'x')).toContain('docker compose up rabbitmq');
    },
  );

  it('when a remote host is not found, then the line says to check AMQP_URL, with the default amqps port', () => {
    const line = describeUnreachableBroker(
      'amqps://user:pw@mq.internal/vhost',
      notFound,
      'no email is sent until it is',
    );

    expect(line).toBe(
      'RabbitMQ is not reachable at mq.internal:5671 (host not found): no email is sent until it is; ' +
        'check AMQP_URL and that the broker is running. Retrying in the background.',
    );
  });

  it('when the broker refuses the login, then the line points at the user and password', () => {
    expect(describeUnreachableBroker('amqp://app:pw@127.0.0.1', loginRefused, 'x')).toContain(
      '(login refused): x; check the user and password in AMQP_URL',
    );
  });

  it('when the error is one it does not know, then its own text is the cause', () => {
    expect(describeUnreachableBroker('amqp://mq', new Error('Frame size exceeds maxFrameSize'), 'x')).toContain(
      '(Frame size exceeds maxFrameSize)',
    );
  });

  it('when the URL carries a user and password, then neither is in the line', () => {
    const line = describeUnreachableBroker('amqp://alice:s3cret@127.0.0.1:5672', refused, 'x');

    expect(line).not.toContain('alice');
    expect(line).not.toContain('s3cret');
  });

  it('when AMQP_URL lists cluster nodes, then the line names each host:port, without users or passwords', () => {
    const line = describeUnreachableBroker(
      'amqp://alice:s3cret@127.0.0.1:5672, amqp://alice:s3cret@127.0.0.1:5673,amqps://alice:s3cret@mq-3',
      refused,
      'x',
    );

    expect(line).toContain(
      'RabbitMQ is not reachable at 127.0.0.1:5672, 127.0.0.1:5673, mq-3:5671 (connection refused)',
    );
    expect(line).toContain('check AMQP_URL and that the broker is running');
    expect(line).not.toContain('alice');
    expect(line).not.toContain('s3cret');
  });
});

describe('explainUnreachableBroker', () => {
  type Events = { 'connect-failed': [Error]; channel: [] };

  function watch() {
    const broker = new EventEmitter<Events>();
    const lines: [string, Record<string, unknown> | undefined][] = [];
    const record = (message: string, meta?: Record<string, unknown>) => void lines.push([message, meta]);
    const logger = { debug: record, info: record, warn: record, error: record };
    explainUnreachableBroker(broker, logger, { url: 'amqp://127.0.0.1:5999', consequence: 'x' });
    return { broker, lines };
  }

  it('when connecting fails again and again at start-up, then it is explained once', () => {
    const { broker, lines } = watch();

    for (let attempt = 0; attempt < 5; attempt += 1) broker.emit('connect-failed', refused);

    expect(lines).toEqual([
      [
        expect.stringMatching(/^RabbitMQ is not reachable at 127\.0\.0\.1:5999 \(connection refused\)/),
        { error: refused.message },
      ],
    ]);
    expect(broker.listenerCount('connect-failed')).toBe(0);
  });

  it('when the first connection succeeds, then a later failed reconnect is not explained', () => {
    const { broker, lines } = watch();

    broker.emit('channel');
    broker.emit('connect-failed', refused);

    expect(lines).toEqual([]);
    expect(broker.listenerCount('connect-failed')).toBe(0);
  });
});
