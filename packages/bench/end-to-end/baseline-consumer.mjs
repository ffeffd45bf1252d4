// The floor for the consumer's CPU per email: a minimal amqplib consumer doing the same work on
// the wire and nothing else. It takes the same work queue with manual acks and the same prefetch,
// POSTs the same Postmark request (fields, headers, JSON) over HTTP keep-alive to the same fake
// Postmark, and acks on a 200. No failover, retries, circuits, timeouts or logging per message:
// the consumer's CPU per email over this one's is the price of all of those.
//
// Environment: AMQP_URL, QUEUE, PREFETCH, POSTMARK_URL (`http://host:port`), POSTMARK_SERVER_TOKEN.
// Prints one JSON line `{"message":"consuming",...}` once the consumer is registered; SIGTERM or
// SIGINT stops consuming, waits for the sends in flight to be acked, closes and exits 0.
import { Buffer } from 'node:buffer';
import { Agent, request } from 'node:http';
import { URL } from 'node:url';
import amqplib from 'amqplib';

const { AMQP_URL, QUEUE, PREFETCH, POSTMARK_URL, POSTMARK_SERVER_TOKEN } = process.env;
const prefetch = Number(PREFETCH);
if (!AMQP_URL || !QUEUE || !POSTMARK_URL || !POSTMARK_SERVER_TOKEN || !(prefetch > 0)) {
  process.stderr.write('baseline consumer: set AMQP_URL, QUEUE, PREFETCH, POSTMARK_URL and POSTMARK_SERVER_TOKEN\n');
  process.exit(2);
}
const postmark = new URL('/email', POSTMARK_URL);
const agent = new Agent({ keepAlive: true });
// The headers Postmark's client sends (postmark 5.x), so that both requests have the same size.
const headers = {
  'X-Postmark-Server-Token': POSTMARK_SERVER_TOKEN,
  Accept: 'application/json',
  'Content-Type': 'application/json',
  'User-Agent': 'Postmark.JS - 5.1.0',
};

// As the adapter formats a mailbox: the display name quoted unless it is atoms and spaces.
const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;
const mailbox = ({ email, name }) => {
  if (!name?.trim()) return email;
  return `${PLAIN_PHRASE.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`} <${email}>`;
};
const list = (addresses) => (addresses?.length ? addresses.map(mailbox).join(', ') : undefined);

/** The Postmark `POST /email` body for an envelope, with the fields the consumer's adapter sends. */
function postmarkBody({ id, request: email }) {
  return JSON.stringify({
    From: mailbox(email.from),
    To: list(email.to),
    Cc: list(email.cc),
    Bcc: list(email.bcc),
    Subject: email.subject,
    ReplyTo: list(email.reply_to),
    HtmlBody: email.html,
    TextBody: email.text,
    Tag: email.tags?.tag,
    Headers: [
      ...Object.entries(email.headers ?? {}).map(([Name, Value]) => ({ Name, Value })),
      { Name: 'X-Mailer-Email-Id', Value: id },
    ],
    Attachments: email.attachments?.map((a) => ({ Name: a.filename, Content: a.content, ContentType: a.content_type })),
    Metadata: email.metadata
      ? Object.fromEntries(
          Object.entries(email.metadata).flatMap(([key, value]) => (value === null ? [] : [[key, String(value)]])),
        )
      : undefined,
    MessageStream: 'outbound',
  });
}

/** POSTs `body`; resolves with the status code (0 on a socket error). */
function post(body) {
  return new Promise((resolve) => {
    const req = request(
      postmark,
      { agent, method: 'POST', headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const connection = await amqplib.connect(AMQP_URL);
connection.on('error', () => undefined);
const channel = await connection.createChannel();
channel.on('error', () => undefined);
await channel.prefetch(prefetch);
let inFlight = 0;
let drained;
const { consumerTag } = await channel.consume(
  QUEUE,
  (message) => {
    if (message === null) return;
    inFlight += 1;
    void post(postmarkBody(JSON.parse(message.content.toString('utf8')))).then((code) => {
      if (code === 200) channel.ack(message);
      else channel.nack(message, false, true);
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
  },
  { noAck: false },
);
process.stdout.write(`${JSON.stringify({ message: 'consuming', queue: QUEUE, prefetch })}\n`);

// Stop taking messages, settle every send in flight, then close: a message sent but not yet acked
// when the channel closes would go back to the queue and be sent again by the next consumer.
const stop = async () => {
  await channel.cancel(consumerTag);
  if (inFlight > 0) await new Promise((resolve) => (drained = resolve));
  await channel.close();
  await connection.close();
};
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => void stop().finally(() => process.exit(0)));
}
