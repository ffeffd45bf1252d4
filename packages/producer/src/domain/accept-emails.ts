import {
  ENVELOPE_VERSION,
  MessageHeaders,
  encodeEnvelope,
  PublishError,
  isOverAttachmentCap,
  mayHaveBeenQueued,
  validateEmailBatch,
  validateEmailRequest,
  type EmailRequest,
  type ValidationProblem,
} from '@mailer/contract';
import { maySendFrom, type ApiKey } from './api-keys';
import {
  LedgerOutageError,
  type AcceptedRecord,
  type EmailLedger,
  type KeyAnswerStore,
  type KeyReservation,
  type LedgerRepair,
  type RecordedEmail,
  type RepairQueue,
} from './email-ledger';
import type { EmailPublisher } from './publisher';
import { withoutSuppressed } from './suppressed-recipients';

/** What accepting an email needs from outside. */
export interface AcceptDeps {
  readonly publisher: EmailPublisher;
  readonly newId: () => string;
  readonly now: () => Date;
  /** Absent with `LEDGER=off`: broker only, and no idempotency keys. */
  readonly ledger?: EmailLedger;
  /**
   * Where undoing a refused request's records waits while the ledger is out of reach; without it
   * they are tried once, at once, and a key left taken goes stale instead.
   */
  readonly repairs?: RepairQueue;
  /**
   * Where keyed requests' 202s are stored while the answer goes out; without it each is stored
   * before the answer (one more round trip to the ledger on the request's path).
   */
  readonly answers?: KeyAnswerStore;
}

/** Who sent the request, and the request id for tracing. */
export interface Caller {
  readonly client: ApiKey;
  readonly requestId: string;
  /** The request's `Idempotency-Key`, already checked for its form. */
  readonly idempotencyKey?: string;
}

/** A sender address the caller's key may not use; `pointer` locates it in the body. */
export interface ForbiddenSender {
  readonly pointer: string;
  readonly address: string;
}

/** The outcome of a request that was not accepted before anything was published. */
export type Refusal =
  /** `omitted`: problems found beyond those listed (validation lists at most `MAX_LISTED_PROBLEMS`). */
  | { readonly kind: 'invalid'; readonly problems: readonly ValidationProblem[]; readonly omitted: number }
  | { readonly kind: 'too-large'; readonly pointers: readonly string[] }
  | { readonly kind: 'forbidden-sender'; readonly senders: readonly ForbiddenSender[] };

/**
 * The outcomes decided by the `Idempotency-Key` or the ledger before anything was published:
 * the first answer again, the key used with another body, the key's first request still under
 * way, or the ledger out of reach (nothing recorded, nothing published).
 */
export type LedgerOutcome =
  | { readonly kind: 'replay'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'key-reused' }
  | { readonly kind: 'key-in-flight'; readonly staleInMs: number }
  | { readonly kind: 'ledger-unavailable'; readonly error: LedgerOutageError };

/**
 * One email a request got past the broker (or had no need to): `queued` for the recipients not
 * on the suppression list, or `suppressed` when every recipient is (recorded so, never published).
 */
export interface Accepted {
  readonly id: string;
  readonly status: 'queued' | 'suppressed';
  /** The recipients left out because they are on the suppression list, masked; empty when none. */
  readonly suppressed: readonly string[];
}

/** The outcome of `acceptEmail`. */
export type AcceptOutcome =
  | Refusal
  | LedgerOutcome
  | (Accepted & {
      readonly kind: 'accepted';
      /** Set when the key's answer could not be stored (the ledger went away after the confirm). */
      readonly answerNotStored?: LedgerOutageError;
    })
  | { readonly kind: 'unavailable'; readonly error: PublishError };

/** Per-item result of a batch: queued (or suppressed) with its id, or not queued and why. */
export type BatchItem =
  | (Accepted & { readonly index: number })
  | { readonly index: number; readonly status: 'failed'; readonly error: PublishError };

/** The outcome of `acceptBatch`: refused as a whole, or published item by item. */
export type BatchOutcome =
  | Refusal
  | LedgerOutcome
  | {
      readonly kind: 'published';
      readonly items: readonly BatchItem[];
      readonly answerNotStored?: LedgerOutageError;
    };

/** The routes whose bodies an `Idempotency-Key` is bound to. */
export const EMAIL_ROUTE = '/v1/emails';
export const BATCH_ROUTE = '/v1/emails/batch';

/**
 * The body of the 202 for one email, `suppressed` (masked) only when a recipient was left out;
 * the same is stored under its key for replays.
 */
export const acceptedBody = ({ id, status, suppressed }: Accepted) => ({
  id,
  status,
  ...(suppressed.length === 0 ? {} : { suppressed: [...suppressed] }),
});

/** The body of the 202 for a batch, in request order; stored under its key for replays. */
export const acceptedBatchBody = (emails: readonly Accepted[]) => ({
  items: emails.map((email, index) => ({ index, ...acceptedBody(email) })),
});

function refuse(emails: readonly EmailRequest[], client: ApiKey, base: (i: number) => string): Refusal | undefined {
  const tooLarge = emails.flatMap((email, i) => (isOverAttachmentCap(email) ? [`${base(i)}/attachments`] : []));
  if (tooLarge.length > 0) return { kind: 'too-large', pointers: tooLarge };
  const forbidden = emails.flatMap((email, i) =>
    maySendFrom(client, email.from.email) ? [] : [{ pointer: `${base(i)}/from/email`, address: email.from.email }],
  );
  if (forbidden.length > 0) return { kind: 'forbidden-sender', senders: forbidden };
  return undefined;
}

/** An email given its id and recorded, ready to publish. */
interface Admitted {
  readonly id: string;
  readonly request: EmailRequest;
  readonly acceptedAt: Date;
  /** False for an email a taken-over holder got past `queued`: it was on the queue already. */
  readonly publish: boolean;
  /** Positions (to, cc, bcc order) of the recipients the ledger found on the suppression list. */
  readonly suppressed: readonly number[];
  /** A taken-over holder recorded it `suppressed`: it never went on the queue, and never will. */
  readonly recordedSuppressed?: boolean;
}

/** An admitted email with its suppressed recipients left out: what to publish, if anything, and the answer. */
interface Dispatch {
  readonly email: Admitted;
  /** The request to publish; `undefined` when nothing is to be (every recipient suppressed, or queued before). */
  readonly request: EmailRequest | undefined;
  readonly accepted: Accepted;
}

function dispatchOf(email: Admitted): Dispatch {
  const { remaining, suppressed } = withoutSuppressed(email.request, email.suppressed);
  const status = remaining === undefined || email.recordedSuppressed === true ? 'suppressed' : 'queued';
  return {
    email,
    request: email.publish && status === 'queued' ? remaining : undefined,
    accepted: { id: email.id, status, suppressed },
  };
}

/** Each id's suppressed positions, from the ledger's answer to the record. */
function suppressedIn(recorded: readonly RecordedEmail[]): (id: string) => readonly number[] {
  const byId = new Map(recorded.map((email) => [email.id, email.suppressed]));
  return (id) => byId.get(id) ?? [];
}

/** The emails of a request once the key and the ledger let it through. */
interface Admission {
  readonly kind: 'admitted';
  readonly emails: readonly Admitted[];
  readonly reservation?: KeyReservation;
}

/** Every address the email goes to, for the ledger (which keeps them masked). */
function recipientsOf(request: EmailRequest): string[] {
  return [...(request.to ?? []), ...(request.cc ?? []), ...(request.bcc ?? [])].map((a) => a.email);
}

function recordOf(caller: Caller, email: Admitted): AcceptedRecord {
  return {
    id: email.id,
    client: caller.client.name,
    acceptedAt: email.acceptedAt,
    recipients: recipientsOf(email.request),
    ...(email.request.tags === undefined ? {} : { tags: email.request.tags }),
    ...(email.request.metadata === undefined ? {} : { metadata: email.request.metadata }),
  };
}

/**
 * Reserves the key (when there is one) and records the emails as `queued` before anything is
 * published, so the state exists as soon as the 202 does; with a key both in one commit. The
 * record's answer names each email's recipients on the suppression list (none with `LEDGER=off`).
 * A taken-over key gives back the ids its first holder recorded: they are used again, and only
 * those still `queued` are published again.
 */
async function admit(
  deps: AcceptDeps,
  caller: Caller,
  route: string,
  body: unknown,
  requests: readonly EmailRequest[],
): Promise<Admission | LedgerOutcome> {
  const acceptedAt = deps.now();
  const fresh = (request: EmailRequest): Admitted => ({
    id: deps.newId(),
    request,
    acceptedAt,
    publish: true,
    suppressed: [],
  });
  const { ledger } = deps;
  const emails = requests.map(fresh);
  if (ledger === undefined) return { kind: 'admitted', emails };
  // Ids minted here may be recorded once the record was sent, whatever its answer: the ones to
  // forget if that answer is lost. A takeover records the earlier holder's ids instead, which
  // may be on the queue already and are never discarded; ours then were never recorded.
  const minted = emails.map((email) => email.id);
  let reservation: KeyReservation | undefined;
  try {
    if (caller.idempotencyKey === undefined) {
      const suppressed = suppressedIn(await ledger.recordAccepted(emails.map((email) => recordOf(caller, email))));
      return { kind: 'admitted', emails: emails.map((email) => ({ ...email, suppressed: suppressed(email.id) })) };
    }
    // A retry of a request whose 202 this producer is still storing is replayed, not refused as in flight.
    await deps.answers?.settled(caller.client.name, caller.idempotencyKey);
    // The token is ours, not the ledger's, so a reservation whose answer is lost can be released.
    reservation = { client: caller.client.name, key: caller.idempotencyKey, token: deps.newId() };
    const key = await ledger.reserveKeyAndRecord(
      { ...reservation, route, body },
      emails.map((email) => recordOf(caller, email)),
    );
    switch (key.outcome) {
      case 'replay':
        return { kind: 'replay', status: key.status, body: key.body };
      case 'mismatch':
        return { kind: 'key-reused' };
      case 'in-flight':
        return { kind: 'key-in-flight', staleInMs: key.staleInMs };
      case 'new': {
        // The same body gives the same emails, in the same order.
        const takenOver = key.previousEmails.length > 0 && key.previousEmails.length === requests.length;
        const suppressed = suppressedIn(key.recorded);
        const admitted = takenOver
          ? key.previousEmails.map((previous, i): Admitted => ({
              id: previous.id,
              request: requests[i] as EmailRequest,
              acceptedAt,
              // Abandoned: marked so because nothing took it from the queue; it may never have got there.
              publish: previous.state === null || previous.state === 'queued' || previous.state === 'abandoned',
              suppressed: suppressed(previous.id),
              recordedSuppressed: previous.state === 'suppressed',
            }))
          : emails.map((email) => ({ ...email, suppressed: suppressed(email.id) }));
        return { kind: 'admitted', emails: admitted, reservation: key.reservation };
      }
    }
  } catch (error) {
    if (!(error instanceof LedgerOutageError)) throw error;
    // The record's answer may be lost with its commit done: the rows minted here are forgotten
    // and the key given up once the ledger answers, so neither sits there for ever.
    const repair: LedgerRepair = {
      discard: minted,
      ...(reservation === undefined ? {} : { release: reservation }),
    };
    if (deps.repairs !== undefined) deps.repairs.add(repair);
    else await undo(ledger, undefined, repair);
    return { kind: 'ledger-unavailable', error };
  }
}

/**
 * Undoes what a refused request left in the ledger: the emails surely not queued, then the key.
 * A ledger out of reach hands the repair to `repairs`, for when it answers again.
 */
async function undo(ledger: EmailLedger, repairs: RepairQueue | undefined, repair: LedgerRepair): Promise<void> {
  try {
    if (repair.discard.length > 0) await ledger.discardUnpublished(repair.discard);
    if (repair.release !== undefined) await ledger.releaseKey(repair.release);
  } catch (error) {
    if (!(error instanceof LedgerOutageError)) throw error;
    repairs?.add(repair);
  }
}

/**
 * After a failed publish: forgets the recorded emails the broker surely did not queue (they were
 * answered 503 and would show as `queued` for ever), then gives the key up. Those that may be
 * queued (a lost or late confirm) keep their record. A ledger out of reach leaves both to
 * `deps.repairs`, for when it answers again.
 */
async function afterFailedPublish(
  deps: AcceptDeps & { readonly ledger: EmailLedger },
  failed: readonly { readonly id: string; readonly error: PublishError }[],
  reservation: KeyReservation | undefined,
): Promise<void> {
  const unqueued = failed.filter(({ error }) => !mayHaveBeenQueued(error)).map(({ id }) => id);
  await undo(deps.ledger, deps.repairs, {
    discard: unqueued,
    ...(reservation === undefined ? {} : { release: reservation }),
  });
}

/**
 * Stores the 202 under the key: handed to `deps.answers` to store while the answer goes out, or
 * (without it) before the answer. The emails are recorded and confirmed whatever happens here,
 * so a ledger that went away now does not turn the 202 into a 503: the key then goes stale, and
 * a retry takes it over with the same ids.
 */
async function complete(
  deps: AcceptDeps,
  reservation: KeyReservation | undefined,
  body: unknown,
): Promise<LedgerOutageError | undefined> {
  if (reservation === undefined || deps.ledger === undefined) return undefined;
  if (deps.answers !== undefined) {
    deps.answers.store(reservation, 202, body);
    return undefined;
  }
  try {
    await deps.ledger.completeKey(reservation, 202, body);
    return undefined;
  } catch (error) {
    if (error instanceof LedgerOutageError) return error;
    throw error;
  }
}

/** Publishes what is left of an email once its suppressed recipients are out; nothing if nothing is. */
async function publish(deps: AcceptDeps, caller: Caller, { email, request }: Dispatch): Promise<void> {
  if (request === undefined) return;
  await deps.publisher.publish({
    id: email.id,
    timestamp: email.acceptedAt,
    headers: { [MessageHeaders.requestId]: caller.requestId, [MessageHeaders.client]: caller.client.name },
    body: encodeEnvelope({
      version: ENVELOPE_VERSION,
      id: email.id,
      accepted_at: email.acceptedAt.toISOString(),
      client: caller.client.name,
      request,
    }),
  });
}

/**
 * Accepts one email: validate, check the sender against the caller's key, reserve its
 * `Idempotency-Key`, give it an id and record it (the ledger names the recipients on the
 * suppression list), publish it without those and wait for the broker's confirm. An email whose
 * every recipient is suppressed is recorded `suppressed` and not published. Only an `accepted`
 * outcome (or the replay of one) may be answered with 202.
 */
export async function acceptEmail(deps: AcceptDeps, caller: Caller, body: unknown): Promise<AcceptOutcome> {
  const validated = validateEmailRequest(body);
  if (!validated.ok) return { kind: 'invalid', problems: validated.problems, omitted: validated.omitted ?? 0 };
  const refusal = refuse([validated.value], caller.client, () => '');
  if (refusal !== undefined) return refusal;
  const admission = await admit(deps, caller, EMAIL_ROUTE, body, [validated.value]);
  if (admission.kind !== 'admitted') return admission;
  const [email] = admission.emails;
  if (email === undefined) throw new Error('one request admits one email');
  const dispatch = dispatchOf(email);
  try {
    await publish(deps, caller, dispatch);
  } catch (error) {
    if (!(error instanceof PublishError)) throw error;
    if (deps.ledger !== undefined)
      await afterFailedPublish({ ...deps, ledger: deps.ledger }, [{ id: email.id, error }], admission.reservation);
    return { kind: 'unavailable', error };
  }
  const notStored = await complete(deps, admission.reservation, acceptedBody(dispatch.accepted));
  return {
    kind: 'accepted',
    ...dispatch.accepted,
    ...(notStored === undefined ? {} : { answerNotStored: notStored }),
  };
}

/**
 * Accepts a batch. Validation and sender checks are all or nothing: one bad item refuses the
 * whole batch and nothing is recorded or published. Items are then recorded together and
 * published concurrently (each without its suppressed recipients; one with none left is not
 * published), each with its own id and confirm, so a broker failure part-way leaves some queued
 * and some not: the outcome says which, item by item.
 */
export async function acceptBatch(deps: AcceptDeps, caller: Caller, body: unknown): Promise<BatchOutcome> {
  const validated = validateEmailBatch(body);
  if (!validated.ok) return { kind: 'invalid', problems: validated.problems, omitted: validated.omitted ?? 0 };
  const refusal = refuse(validated.value, caller.client, (i) => `/emails/${i}`);
  if (refusal !== undefined) return refusal;
  const admission = await admit(deps, caller, BATCH_ROUTE, body, validated.value);
  if (admission.kind !== 'admitted') return admission;
  const dispatches = admission.emails.map(dispatchOf);
  const items = await Promise.all(
    dispatches.map(async (dispatch, index): Promise<BatchItem> => {
      try {
        await publish(deps, caller, dispatch);
        return { index, ...dispatch.accepted };
      } catch (error) {
        if (error instanceof PublishError) return { index, status: 'failed', error };
        throw error;
      }
    }),
  );
  const failed = admission.emails.flatMap((email, index) => {
    const item = items[index];
    return item?.status === 'failed' ? [{ id: email.id, error: item.error }] : [];
  });
  if (failed.length > 0) {
    if (deps.ledger !== undefined)
      await afterFailedPublish({ ...deps, ledger: deps.ledger }, failed, admission.reservation);
    return { kind: 'published', items };
  }
  const notStored = await complete(
    deps,
    admission.reservation,
    acceptedBatchBody(dispatches.map((dispatch) => dispatch.accepted)),
  );
  return { kind: 'published', items, ...(notStored === undefined ? {} : { answerNotStored: notStored }) };
}
