import {
  ProviderEventHeaders,
  decodeProviderEvent,
  maskAddress,
  maskAddressesIn,
  type EventProvider,
  type ParsedProviderEvent,
  type ProviderEvent,
  type ProviderEventOutcome,
  type ProviderEventMessage,
  type ProviderEventParkReason,
  type ProviderEventRecipient,
  type RecipientHasher,
  type RecipientKeys,
  type RecipientOutcome,
  type SuppressionEntry,
  type SuppressionReason,
} from '@mailer/contract';
import { isLedgerUnavailable } from '../delivery/send-guard';
import { parsePostmarkEvent } from '../providers/postmark/events';
import { parseSesEvent } from '../providers/ses/events';

/**
 * The part of the ledger (`@mailer/ledger`'s `Ledger`) the event worker uses, as a port. Every
 * method may reject with an error whose `reason` is `ledger-unavailable`.
 */
export interface FeedbackLedger {
  applyProviderEvent(event: ProviderEvent): Promise<ProviderEventOutcome>;
  addSuppressions(entries: readonly SuppressionEntry[]): Promise<boolean[]>;
  removeSuppression(hashes: readonly Buffer[], note: string | undefined, by: string): Promise<boolean>;
  ping(): Promise<void>;
}

/** What the event worker needs to decide on one event. */
export interface EventHandlerDeps {
  readonly ledger: FeedbackLedger;
  /** Keys recipients as the ledger does (`RECIPIENT_HASH_SECRET` and the previous ones). */
  readonly hasher: RecipientHasher;
  /** Times an event may find its email unknown before it is parked (`FEEDBACK_MAX_TRIES`). */
  readonly maxTries: number;
  /** Waits between tries of a ledger call that deadlocked; a timer by default (tests pass their own). */
  readonly pause?: (ms: number) => Promise<void>;
}

/** A provider-event message as the worker took it from the queue. */
export interface IncomingEvent {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, unknown>>;
}

/**
 * What an event was about, for metrics and logs (never an address): the provider (`unknown` when
 * the message could not be read), the recipients' outcome, `suppression` or `reactivation` for an
 * event that only changes the suppression list, `none` for one that means nothing.
 */
export interface EventFacts {
  readonly provider: EventProvider | 'unknown';
  readonly outcome: RecipientOutcome | 'suppression' | 'reactivation' | 'none';
  readonly eventKey?: string;
}

/**
 * What to do with one event:
 * - `ack`: done with. `applied` (the ledger changed), `duplicate` (its key was applied before,
 *   or the list already said so), `ignored` (an event type that changes nothing);
 *   `suppressions` names the reason of each suppression it asked for.
 * - `retry`: its email is not in the ledger yet; publish a copy to the delay queue with `tries`.
 * - `park`: publish a copy to the dead queue with the reason, then ack.
 * - `ledger-unavailable`: keep it unacked until the ledger answers, then handle it again.
 * - `requeue`: something unexpected failed; give it back to the queue (its delivery limit ends a loop).
 */
export type EventDecision =
  | {
      readonly action: 'ack';
      readonly result: 'applied' | 'duplicate' | 'ignored';
      readonly facts: EventFacts;
      readonly suppressions: readonly SuppressionReason[];
    }
  | { readonly action: 'retry'; readonly tries: number; readonly facts: EventFacts }
  | {
      readonly action: 'park';
      readonly reason: ProviderEventParkReason;
      /** What was wrong; names no address. */
      readonly detail: string;
      readonly tries?: number;
      readonly facts: EventFacts;
    }
  | { readonly action: 'ledger-unavailable'; readonly error: unknown; readonly facts: EventFacts }
  | { readonly action: 'requeue'; readonly error: unknown; readonly facts: EventFacts };

/** Tries of one ledger call that PostgreSQL ended as a deadlock (40P01) before the event is requeued. */
export const DEADLOCK_TRIES = 5;
/** The first wait after a deadlock, growing with each try (jittered). */
const DEADLOCK_BACKOFF_MS = 50;

/** Who the suppressions an event makes are by (`created_by`). */
export const PROVIDER_CREATED_BY = 'provider';

const UNKNOWN: EventFacts = { provider: 'unknown', outcome: 'none' };

/** Whether PostgreSQL ended the statement as a deadlock victim: it is safe to run it again. */
export function isDeadlock(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '40P01';
}

/** The `tries` header of a retried event: a whole number from 0, else 0. */
export function triesOf(headers: Readonly<Record<string, unknown>>): number {
  const raw = headers[ProviderEventHeaders.tries];
  const tries = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(tries) && tries >= 0 ? tries : 0;
}

const defaultPause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs a ledger call, again after a deadlock (up to {@link DEADLOCK_TRIES} in all). */
async function withDeadlockRetry<T>(deps: EventHandlerDeps, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isDeadlock(error) || attempt >= DEADLOCK_TRIES) throw error;
      await (deps.pause ?? defaultPause)(DEADLOCK_BACKOFF_MS * attempt * (0.5 + Math.random()));
    }
  }
}

/** The event's parser, by provider. */
function parse(deps: EventHandlerDeps, message: ProviderEventMessage): ParsedProviderEvent {
  if (message.provider === 'ses') {
    if (message.event_key === undefined) return { kind: 'invalid', problem: 'an SES event has no event_key' };
    return parseSesEvent(message.body, message.event_key);
  }
  // The key part of an event key: the current secret's hash, so no address appears in a key.
  return parsePostmarkEvent(message.body, { keyOf: (address) => deps.hasher.hash(address).toString('hex') });
}

/** What the ledger knows a recipient by: its candidate keys and its masked address. */
function keysOf(hasher: RecipientHasher, address: string): RecipientKeys {
  return { hashes: hasher.candidates(address), masked: maskAddress(address) };
}

type Outcome = Extract<ParsedProviderEvent, { kind: 'outcome' }>;

/** The parsed event as the ledger takes it: addresses turned into keys, the diagnostic masked. */
export function providerEventOf(hasher: RecipientHasher, parsed: Outcome, receivedAt: Date): ProviderEvent {
  const recipients = parsed.recipients.map((r): ProviderEventRecipient => ({
    ...keysOf(hasher, r.address),
    outcome: r.outcome,
    ...(r.bounceKind === undefined ? {} : { bounceKind: r.bounceKind }),
    ...(r.providerType === undefined ? {} : { providerType: r.providerType }),
    ...(r.providerSubtype === undefined ? {} : { providerSubtype: r.providerSubtype }),
    ...(r.diagnostic === undefined ? {} : { diagnostic: maskAddressesIn(r.diagnostic) }),
    ...(r.suppress === undefined ? {} : { suppress: { reason: r.suppress.reason } }),
  }));
  const unsuppress = (parsed.unsuppress ?? []).map((u) => keysOf(hasher, u.address));
  return {
    provider: parsed.provider,
    eventKey: parsed.eventKey,
    ...(parsed.emailId === undefined ? {} : { emailId: parsed.emailId }),
    ...(parsed.providerMessageId === undefined ? {} : { providerMessageId: parsed.providerMessageId }),
    occurredAt: parsed.occurredAt,
    receivedAt,
    recipients,
    ...(unsuppress.length === 0 ? {} : { unsuppress }),
  };
}

/** The suppressions an event makes with no outcome on an email, as list entries sourced to the event. */
function listEntriesOf(hasher: RecipientHasher, parsed: Outcome): SuppressionEntry[] {
  const source = {
    provider: parsed.provider,
    eventKey: parsed.eventKey,
    ...(parsed.emailId === undefined ? {} : { emailId: parsed.emailId }),
  };
  return (parsed.suppress ?? []).map((s) => ({
    ...keysOf(hasher, s.address),
    reason: s.reason,
    createdBy: PROVIDER_CREATED_BY,
    source,
  }));
}

function factsOf(parsed: Outcome): EventFacts {
  const first = parsed.recipients[0];
  const outcome =
    first !== undefined
      ? first.outcome
      : (parsed.suppress?.length ?? 0) > 0
        ? 'suppression'
        : (parsed.unsuppress?.length ?? 0) > 0
          ? 'reactivation'
          : 'none';
  return { provider: parsed.provider, outcome, eventKey: parsed.eventKey };
}

/**
 * Decides what becomes of one queued provider event (docs/feedback.md): decode, parse with its
 * provider's parser, key and mask its recipients, apply it to the ledger. Never logs; the worker
 * carries the decision out.
 *
 * An event with recipient outcomes goes through `applyProviderEvent` (which finds the email,
 * dedupes on the key, and suppresses or reactivates); one that only changes the suppression list
 * (a Postmark SubscriptionChange with no email outcome) is applied to the list directly, with no
 * email needed and so never `email-unknown`.
 */
export async function handleProviderEvent(deps: EventHandlerDeps, incoming: IncomingEvent): Promise<EventDecision> {
  const decoded = decodeProviderEvent(incoming.body);
  if (!decoded.ok) return { action: 'park', reason: 'undecodable', detail: decoded.text, facts: UNKNOWN };
  const { message } = decoded;
  const parsed = parse(deps, message);
  if (parsed.kind === 'invalid') {
    return {
      action: 'park',
      reason: 'invalid',
      detail: parsed.problem,
      facts: { provider: message.provider, outcome: 'none' },
    };
  }
  if (parsed.kind === 'ignored') {
    return {
      action: 'ack',
      result: 'ignored',
      facts: { provider: message.provider, outcome: 'none' },
      suppressions: [],
    };
  }
  const facts = factsOf(parsed);
  try {
    return await apply(deps, parsed, new Date(message.received_at), triesOf(incoming.headers), facts);
  } catch (error) {
    if (isLedgerUnavailable(error)) return { action: 'ledger-unavailable', error, facts };
    // The ledger checks what it is given (an unknown provider or reason, a key too long): no try changes that.
    if (error instanceof RangeError) {
      return { action: 'park', reason: 'refused', detail: maskAddressesIn(error.message).slice(0, 500), facts };
    }
    return { action: 'requeue', error, facts };
  }
}

async function apply(
  deps: EventHandlerDeps,
  parsed: Outcome,
  receivedAt: Date,
  triesBefore: number,
  facts: EventFacts,
): Promise<EventDecision> {
  const { ledger, hasher } = deps;
  // The list's own changes first: idempotent, and they need no email, so a retry repeats them harmlessly.
  const entries = listEntriesOf(hasher, parsed);
  const added = entries.length === 0 ? [] : await withDeadlockRetry(deps, () => ledger.addSuppressions(entries));
  const listed = (parsed.suppress ?? []).filter((_, i) => added[i] === true).map((s) => s.reason);

  if (parsed.recipients.length === 0) {
    let changed = listed.length > 0;
    for (const { address } of parsed.unsuppress ?? []) {
      const note = `reactivated by ${parsed.provider} (event ${parsed.eventKey})`;
      const hashes = hasher.candidates(address);
      if (await withDeadlockRetry(deps, () => ledger.removeSuppression(hashes, note, PROVIDER_CREATED_BY))) {
        changed = true;
      }
    }
    return { action: 'ack', result: changed ? 'applied' : 'duplicate', facts, suppressions: listed };
  }

  const event = providerEventOf(hasher, parsed, receivedAt);
  const result = await withDeadlockRetry(deps, () => ledger.applyProviderEvent(event));
  switch (result) {
    case 'applied': {
      const suppressed = parsed.recipients.flatMap((r) => (r.suppress === undefined ? [] : [r.suppress.reason]));
      return { action: 'ack', result, facts, suppressions: [...listed, ...suppressed] };
    }
    case 'duplicate':
      return { action: 'ack', result, facts, suppressions: listed };
    case 'email-unknown': {
      const tries = triesBefore + 1;
      if (tries < deps.maxTries) return { action: 'retry', tries, facts };
      return {
        action: 'park',
        reason: 'email-unknown',
        detail: `no email in the ledger matches this event after ${tries} tries`,
        tries,
        facts,
      };
    }
  }
}
