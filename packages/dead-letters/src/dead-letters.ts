import type { Channel, GetMessage } from 'amqplib';
import { DeliveryHeaders, decodeEnvelope, type Topology } from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';
import { messageIdOf } from './message-properties';
import { REPLAYED_AT_HEADER, replayOne, type ReplayOptions } from './replay';

/**
 * Header counting how many times automatic release sent a message back (`AUTO_RELEASE`); kept
 * across retries and parks, so that one that keeps failing stops coming back.
 */
export const AUTO_RELEASED_HEADER = 'x-mailer-auto-released';

/** Times automatic release sent a message back, from its headers ({@link AUTO_RELEASED_HEADER}); 0 when never. */
export function autoReleasesOf(headers: Readonly<Record<string, unknown>>): number {
  const count = Number(headers[AUTO_RELEASED_HEADER]);
  return Number.isInteger(count) && count > 0 ? count : 0;
}

/**
 * What an operator sees of a parked message: its delivery history, never its body. Fields the
 * message does not carry (a hand-published message, an undecodable body) are `undefined`.
 */
export interface ParkedMessage {
  /** AMQP message id or, failing that, the envelope's id. */
  readonly id: string | undefined;
  readonly client: string | undefined;
  /** `x-mailer-parked-reason`: one of the contract's `PARK_REASONS` (any text on a hand-published message). */
  readonly reason: string | undefined;
  /** `x-mailer-last-failure-kind`. */
  readonly failureKind: string | undefined;
  /** `x-mailer-providers-tried`, in order, repeats kept. */
  readonly providersTried: readonly string[];
  readonly attempts: number | undefined;
  /** When it was parked: its last attempt (`x-mailer-last-attempt-at`), ISO 8601. */
  readonly parkedAt: string | undefined;
  /** Milliseconds between `parkedAt` and the time the list was taken. */
  readonly ageMs: number | undefined;
  /** The last failure's text as the consumer recorded it (no content). */
  readonly lastFailure: string | undefined;
  /** When an operator (or automatic release) last sent it back from the dead-letter queue, ISO 8601. */
  readonly replayedAt: string | undefined;
  /** Times automatic release sent it back ({@link AUTO_RELEASED_HEADER}), 0 when never. */
  readonly autoReleases: number;
}

/**
 * Which parked messages an operation applies to. Every given field must match (AND); a list
 * field matches when any of its values does (OR). An empty filter matches every message.
 */
export interface DeadLetterFilter {
  readonly ids?: readonly string[];
  readonly reasons?: readonly string[];
  readonly failureKinds?: readonly string[];
  /** Matches when any of these providers was tried at least once. */
  readonly providers?: readonly string[];
  /** Parked at least this long ago; a message with no parked time never matches. */
  readonly olderThanMs?: number;
  /** Parked less than this long ago; a message with no parked time never matches. */
  readonly newerThanMs?: number;
  /** Sent back by automatic release fewer than this many times. */
  readonly autoReleasedFewerThan?: number;
  /** At most this many matches are acted on (listed, replayed, purged), oldest first. */
  readonly limit?: number;
}

/** The view of one message read from the dead-letter queue. */
export function parkedView(message: Pick<GetMessage, 'content' | 'properties'>, now: Date): ParkedMessage {
  const headers: Record<string, unknown> = message.properties.headers ?? {};
  const decoded = decodeEnvelope(message.content);
  const text = (name: string): string | undefined => {
    const value = headers[name];
    if (typeof value === 'string') return value;
    return Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
  };
  const attempts = Number(headers[DeliveryHeaders.attempts]);
  const parkedAt = text(DeliveryHeaders.lastAttemptAt);
  const parkedMs = parkedAt === undefined ? Number.NaN : Date.parse(parkedAt);
  const tried = text(DeliveryHeaders.providersTried);
  const replayedMs = Date.parse(text(REPLAYED_AT_HEADER) ?? '');
  return {
    id: messageIdOf(message.properties) ?? (decoded.ok ? decoded.envelope.id : decoded.id),
    client: decoded.ok ? decoded.envelope.client : undefined,
    reason: text(DeliveryHeaders.parkedReason),
    failureKind: text(DeliveryHeaders.lastFailureKind),
    providersTried: tried === undefined || tried === '' ? [] : tried.split(','),
    attempts: Number.isFinite(attempts) && headers[DeliveryHeaders.attempts] !== undefined ? attempts : undefined,
    parkedAt: Number.isNaN(parkedMs) ? undefined : new Date(parkedMs).toISOString(),
    ageMs: Number.isNaN(parkedMs) ? undefined : now.getTime() - parkedMs,
    lastFailure: text(DeliveryHeaders.lastFailure),
    replayedAt: Number.isNaN(replayedMs) ? undefined : new Date(replayedMs).toISOString(),
    autoReleases: autoReleasesOf(headers),
  };
}

/** Whether a view matches a filter (all but `limit`, which is counted by the caller). */
export function matchesFilter(view: ParkedMessage, filter: DeadLetterFilter): boolean {
  const among = (values: readonly string[] | undefined, value: string | undefined) =>
    values === undefined || (value !== undefined && values.includes(value));
  if (!among(filter.ids, view.id)) return false;
  if (!among(filter.reasons, view.reason)) return false;
  if (!among(filter.failureKinds, view.failureKind)) return false;
  if (filter.providers !== undefined && !filter.providers.some((p) => view.providersTried.includes(p))) return false;
  if (filter.olderThanMs !== undefined && !(view.ageMs !== undefined && view.ageMs >= filter.olderThanMs)) return false;
  if (filter.newerThanMs !== undefined && !(view.ageMs !== undefined && view.ageMs < filter.newerThanMs)) return false;
  if (filter.autoReleasedFewerThan !== undefined && !(view.autoReleases < filter.autoReleasedFewerThan)) return false;
  return true;
}

/** One step of a replay or purge, for a progress bar. */
export interface DeadLetterProgress {
  /** Matches handled so far (replayed or purged). */
  readonly done: number;
  /** Matches found in the queue (bounded by `limit`); known only at the end of the scan. */
  readonly matched: number;
  /** The id just handled. */
  readonly id: string | undefined;
}

export interface DeadLetterReplayOptions extends ReplayOptions {
  /** At most this many copies published per second (default: no cap). */
  readonly ratePerSecond?: number;
  /**
   * Ids an earlier, interrupted replay reported as copied (through `onProgress`): their copy is
   * confirmed already, so a parked message with one of these ids is acked without a second copy.
   */
  readonly resume?: readonly string[];
  /**
   * When the interrupted replay that `resume` comes from started. A parked message with a
   * `resume` id whose {@link ParkedMessage.replayedAt} is at or after it is a copy that replay made
   * and that was parked again since: it is replayed again, not acked as already copied.
   */
  readonly resumeSince?: Date;
  readonly onProgress?: (progress: DeadLetterProgress) => void;
}

export interface DeadLetterReplayResult {
  /** Ids sent back to the work exchange (or acked as already copied, see `resume`). */
  readonly replayed: readonly string[];
  /** Matches left parked because they carry no id. */
  readonly skipped: number;
  /** Parked messages left in the queue because they did not match (or were past `limit`). */
  readonly kept: number;
}

/** What a held match carries instead of its body when the operation does not need it. */
const NO_BODY = Buffer.alloc(0);

/**
 * The dead-letter queue as operators work on it. Every operation makes one pass over what is
 * parked (until a get finds nothing ready): it gets each message unacked, holds it, acts on the
 * matching ones, and gives the rest back with a requeue in the order it got them. Holding them
 * unacked is what moves `get` past them; a message is never out of the queue without a
 * confirmed copy (replay) or an explicit ack (purge).
 */
export class DeadLetters {
  constructor(
    private readonly channel: Channel,
    private readonly topology: Topology,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The matching parked messages, oldest first; the queue is left as it was. */
  async list(filter: DeadLetterFilter = {}): Promise<ParkedMessage[]> {
    const found: ParkedMessage[] = [];
    await this.pass(filter, (_message, view) => {
      found.push(view);
      return 'keep';
    });
    return found;
  }

  /** One parked message by id, or `undefined`; the queue is left as it was. */
  async show(id: string): Promise<ParkedMessage | undefined> {
    const [view] = await this.list({ ids: [id], limit: 1 });
    return view;
  }

  /**
   * Moves the matching messages to the work exchange with a fresh history ({@link replayOne}),
   * each copy confirmed before its parked original is acked. Rate-capped. Running it
   * again after an interruption continues with what is still parked: each message is either
   * still parked (replayed by the re-run) or acked after its copy was confirmed. A crash
   * between confirm and ack leaves both; the re-run then copies it a second time, with the same
   * message id, which the ledger's send-once acks unsent (or pass its id in `resume`).
   */
  async replay(
    publisher: ConfirmPublisher,
    filter: DeadLetterFilter = {},
    options: DeadLetterReplayOptions = {},
  ): Promise<DeadLetterReplayResult> {
    const replayed: string[] = [];
    const resumed = new Set(options.resume ?? []);
    const gapMs = options.ratePerSecond === undefined ? 0 : 1000 / options.ratePerSecond;
    let next = 0;
    let skipped = 0;
    const { kept } = await this.pass(
      filter,
      async (message, view, matched) => {
        if (view.id === undefined) {
          skipped += 1;
          return 'keep';
        }
        const copiedBefore =
          resumed.has(view.id) &&
          !(
            options.resumeSince !== undefined &&
            view.replayedAt !== undefined &&
            Date.parse(view.replayedAt) >= options.resumeSince.getTime()
          );
        if (!copiedBefore) {
          const wait = next - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          next = Date.now() + gapMs;
          await replayOne(message, { id: view.id, client: view.client }, publisher, this.topology, {
            ...options,
            now: options.now ?? this.now,
          });
        }
        replayed.push(view.id);
        options.onProgress?.({ done: replayed.length, matched, id: view.id });
        return 'ack';
      },
      true,
    );
    return { replayed, skipped, kept };
  }

  /** Deletes (acks) the matching parked messages; returns their ids (`undefined` for none). */
  async purge(
    filter: DeadLetterFilter = {},
    onProgress?: (progress: DeadLetterProgress) => void,
  ): Promise<{ purged: (string | undefined)[]; kept: number }> {
    const purged: (string | undefined)[] = [];
    const { kept } = await this.pass(filter, (_message, view, matched) => {
      purged.push(view.id);
      onProgress?.({ done: purged.length, matched, id: view.id });
      return 'ack';
    });
    return { purged, kept };
  }

  /**
   * Scans the queue once; `act` runs on each match (up to the limit) after the scan and says
   * whether to ack the message or give it back. Whatever is not acked is requeued, also on error.
   * Only what a requeue needs (the delivery tag) is held of a message that does not match, and of
   * a match its body only when `act` needs it (`withBodies`): a list or a purge of a large dead
   * queue holds headers, not emails.
   */
  private async pass(
    filter: DeadLetterFilter,
    act: (message: GetMessage, view: ParkedMessage, matched: number) => Promise<'ack' | 'keep'> | 'ack' | 'keep',
    withBodies = false,
  ): Promise<{ kept: number }> {
    const queue = this.topology.deadQueue.name;
    const now = this.now();
    const limit = filter.limit ?? Number.POSITIVE_INFINITY;
    const held: Pick<GetMessage, 'fields'>[] = [];
    const matches: { message: GetMessage; view: ParkedMessage }[] = [];
    const acked = new Set<Pick<GetMessage, 'fields'>>();
    try {
      // Until the queue has nothing ready left: everything got is held, so this is one pass.
      // (Not bounded by checkQueue's count: right after an earlier pass's requeues it can read
      // short, while a get on this channel already sees them.)
      for (;;) {
        const got = await this.channel.get(queue, { noAck: false });
        if (got === false) break;
        const view = parkedView(got, now);
        if (matches.length < limit && matchesFilter(view, filter)) {
          const message = withBodies ? got : { ...got, content: NO_BODY };
          matches.push({ message, view });
          held.push(message);
        } else {
          held.push({ fields: got.fields });
        }
      }
      for (const { message, view } of matches) {
        if ((await act(message, view, matches.length)) === 'ack') {
          this.channel.ack(message);
          acked.add(message);
        }
      }
    } finally {
      // Given back oldest first, so that they keep their order among themselves. A requeue
      // reads only the delivery tag.
      for (const message of held) if (!acked.has(message)) this.channel.nack(message as GetMessage, false, true);
    }
    return { kept: held.length - acked.size };
  }
}
