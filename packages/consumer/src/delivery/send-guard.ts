import { randomUUID } from 'node:crypto';
import type {
  AcceptedRecord,
  AttemptClaim,
  ClaimOutcome,
  FailureReport,
  RecordOutcome,
  SentReport,
  SuppressedAtSendReport,
} from '@mailer/contract';
import type { OutboundEmail, ProviderError } from '../providers/provider';

/** What the ledger answers to a claim (`@mailer/contract`'s {@link ClaimOutcome}). */
export type ClaimAnswer = ClaimOutcome;

/** A provider accepted the email in this attempt (`@mailer/contract`'s {@link SentReport}). */
export type SentRecord = SentReport;

/** A try that did not send (`@mailer/contract`'s {@link FailureReport}). */
export type FailureRecord = FailureReport;

/** Recipients not sent to: suppressed after intake, or refused by a provider (`@mailer/contract`'s {@link SuppressedAtSendReport}). */
export type SuppressionRecord = SuppressedAtSendReport;

/**
 * The part of the ledger (`@mailer/ledger`'s `Ledger`) the consumer uses, as a port: delivery/
 * never sees PostgreSQL. Every method may reject with an error whose `reason` is
 * `ledger-unavailable` ({@link isLedgerUnavailable}).
 */
export interface DeliveryLedger {
  claimAttempt(claim: AttemptClaim): Promise<ClaimAnswer>;
  /** Resolves with what the ledger answers (each email's suppressed recipients), unused here. */
  recordAccepted(emails: readonly AcceptedRecord[]): Promise<unknown>;
  recordSent(report: SentRecord): Promise<RecordOutcome>;
  recordFailure(report: FailureRecord): Promise<RecordOutcome>;
  /**
   * Per recipient (its `RecipientHasher.candidates`), whether it is on the suppression list: the
   * check just before sending. Batched, read-only.
   */
  suppressedAmong(candidateLists: readonly (readonly Buffer[])[]): Promise<boolean[]>;
  /** Adds the refused recipients to the list and records the recipients not sent to (and the email `suppressed` when none is left). */
  recordSuppressedAtSend(report: SuppressionRecord): Promise<RecordOutcome>;
  ping(): Promise<void>;
}

/**
 * What to do with a redelivered email whose last try was claimed and never finished (the worker
 * died mid-send): `resend` claims again and sends (it may arrive twice; the ledger keeps the
 * ambiguous try), `park` parks it for an operator (it may not have been sent at all).
 */
export type InDoubtPolicy = 'resend' | 'park';

/** Whether `error` is the ledger's `LedgerUnavailableError` (told by its `reason`, not its class). */
export function isLedgerUnavailable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { reason?: unknown }).reason === 'ledger-unavailable';
}

/** The step a claim's answer calls for. */
export type ClaimStep =
  | { readonly step: 'send' }
  /** The ledger does not know the email: record it from the envelope, then claim again. */
  | { readonly step: 'record-accepted' }
  /** In doubt, resend policy: the ledger closed the open try; claim again. */
  | { readonly step: 'claim-again' }
  /** Sent before, or this attempt already ended in a confirmed retry or park: ack, send nothing. */
  | { readonly step: 'skip'; readonly reason: 'already-sent' | 'superseded' }
  /** In doubt, park policy: park it (dead-letter copy, then record the park), send nothing. */
  | { readonly step: 'park-in-doubt'; readonly provider: string | null };

/** The step for a claim's answer under the in-doubt policy; pure. */
export function decideClaim(answer: ClaimAnswer, inDoubt: InDoubtPolicy): ClaimStep {
  switch (answer.outcome) {
    case 'claimed':
      return { step: 'send' };
    case 'unknown':
      return { step: 'record-accepted' };
    case 'already-sent':
      return { step: 'skip', reason: 'already-sent' };
    case 'superseded':
      return { step: 'skip', reason: 'superseded' };
    case 'in-doubt':
      return inDoubt === 'resend' ? { step: 'claim-again' } : { step: 'park-in-doubt', provider: answer.provider };
  }
}

/** What the guard says before a provider call. */
export type GuardVerdict =
  | { readonly send: true }
  | { readonly send: false; readonly why: 'already-sent' | 'superseded' }
  | { readonly send: false; readonly why: 'in-doubt'; readonly provider: string | null }
  /** The ledger could not be reached: nothing may be sent until it can. */
  | { readonly send: false; readonly why: 'ledger-unavailable'; readonly error: unknown };

/** What failover asks before each provider call and tells after each failure. */
export interface SendGate {
  /** Resolves with whether this provider may be called now; never rejects for an unreachable ledger. */
  beforeSend(provider: string): Promise<GuardVerdict>;
  /** A provider failed; the failure is recorded before the next claim, or by the caller at the end. */
  failed(provider: string, error: ProviderError): void;
}

/** A claim that keeps coming back with a step to take again means the ledger misbehaves. */
const MAX_CLAIM_ROUNDS = 3;

/** Every recipient of the request, as the ledger counts them (it keeps them masked only). */
function recipientsOf(email: GuardedEmail): string[] {
  const { to, cc, bcc } = email.request;
  return [...(to ?? []), ...(cc ?? []), ...(bcc ?? [])].map((address) => address.email);
}

/** The email a guard claims for: what the envelope says of it. */
export interface GuardedEmail extends OutboundEmail {
  readonly client: string;
  readonly acceptedAt: Date;
}

/**
 * The ledger's side of one delivery attempt: claims each try when its send starts (it has one of
 * the provider's connections, right before the wire), so an email is sent once however often its
 * message is delivered, and only sends that went on the wire are ever left in doubt. Each claim
 * carries a random token, so a claim made again after its answer was lost is recognised as this
 * guard's own rather than as a try in doubt. One guard per attempt; failover
 * keeps the attempt number for every provider it tries. Calls of all the messages in flight go
 * out in the same turn, so the ledger batches them.
 */
export class SendGuard implements SendGate {
  private pending: FailureRecord | undefined;
  /** The token of a claim whose answer never came (it may have committed); reused by the next claim. */
  private unanswered: string | undefined;

  /**
   * @param claimToken the token of this delivery's claim whose answer was lost before (see
   * {@link lostClaimToken}), when it is handled again: its first claim reuses it
   */
  constructor(
    private readonly ledger: DeliveryLedger,
    private readonly email: GuardedEmail,
    readonly attempt: number,
    private readonly inDoubt: InDoubtPolicy,
    claimToken?: string,
  ) {
    this.unanswered = claimToken;
  }

  /**
   * The token of the last claim when the ledger gave no answer to it: the claim may have
   * committed. Handing the email again with it (nothing was sent meanwhile) lets the ledger
   * recognise that claim as this one's instead of answering in-doubt.
   */
  lostClaimToken(): string | undefined {
    return this.unanswered;
  }

  async beforeSend(provider: string): Promise<GuardVerdict> {
    try {
      // The earlier provider's try is closed first: a claim behind an open try answers in-doubt.
      await this.flush();
      let recorded = false;
      let reclaimed = false;
      for (let round = 0; round < MAX_CLAIM_ROUNDS; round += 1) {
        const answer = await this.claim(provider);
        const step = decideClaim(answer, this.inDoubt);
        switch (step.step) {
          case 'send':
            return { send: true };
          case 'skip':
            return { send: false, why: step.reason };
          case 'park-in-doubt':
            return { send: false, why: 'in-doubt', provider: step.provider };
          case 'record-accepted':
            if (recorded) break;
            recorded = true;
            await this.ledger.recordAccepted([this.accepted()]);
            continue;
          case 'claim-again':
            if (reclaimed) break;
            reclaimed = true;
            continue;
        }
        break;
      }
      throw new Error(`the ledger gave no claim for email ${this.email.id} attempt ${this.attempt}`);
    } catch (error) {
      if (isLedgerUnavailable(error)) return { send: false, why: 'ledger-unavailable', error };
      throw error;
    }
  }

  /** One claim, with a fresh token unless the last one went unanswered (then it is made again). */
  private async claim(provider: string): Promise<ClaimAnswer> {
    const token = this.unanswered ?? randomUUID();
    this.unanswered = token;
    const answer = await this.ledger.claimAttempt({ id: this.email.id, attempt: this.attempt, provider, token });
    this.unanswered = undefined;
    return answer;
  }

  failed(provider: string, error: ProviderError): void {
    this.pending = {
      id: this.email.id,
      attempt: this.attempt,
      provider,
      kind: error.kind,
      error: error.message,
      ambiguous: error.ambiguous,
    };
  }

  /**
   * The last failure not recorded yet: the caller records it, with `next`, once the retry or park
   * copy is confirmed (or without, when it gives the message back).
   */
  unrecorded(): FailureRecord | undefined {
    return this.pending;
  }

  /** Records the failure still pending, without `next` (failing over). */
  async flush(): Promise<void> {
    const pending = this.pending;
    if (pending === undefined) return;
    await this.ledger.recordFailure(pending);
    this.pending = undefined;
  }

  private accepted(): AcceptedRecord {
    const { request } = this.email;
    return {
      id: this.email.id,
      client: this.email.client,
      acceptedAt: this.email.acceptedAt,
      recipients: recipientsOf(this.email),
      ...(request.tags === undefined ? {} : { tags: request.tags }),
      ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
    };
  }
}
