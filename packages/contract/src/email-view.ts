import type { EmailState } from './email-state';
import type { RecipientRecord } from './feedback-records';
import { maskAddressesIn } from './mask';

/*
 * An email's record as the API shows it (`GET /v1/emails`, `GET /v1/emails/{id}`) and the
 * operator's CLI prints it with `--json`: one definition, so the two cannot drift. The ledger's
 * records satisfy these types as they are.
 */

/** One try of an email. */
export interface AttemptView {
  readonly attempt: number;
  readonly provider: string | null;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  /** `null` while the try is under way. */
  readonly outcome: string | null;
  /** The try's error text; the views mask any address in it (rows written before the ledger masked them may hold one). */
  readonly error: string | null;
  /** The provider may have sent it although the try did not end in `sent`. */
  readonly ambiguous: boolean;
  readonly providerMessageId: string | null;
}

/** An email's record without its tries. */
export interface EmailSummaryView {
  readonly id: string;
  readonly state: EmailState;
  readonly attempt: number;
  readonly acceptedAt: Date;
  readonly updatedAt: Date;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly recipientCount: number;
  /** Masked: `j***@example.com`. */
  readonly recipients: readonly string[];
  readonly tags: Readonly<Record<string, string>> | null;
  readonly metadata: Readonly<Record<string, string | number | boolean | null>> | null;
  readonly inDoubt: boolean;
}

/** An email's record with every try, oldest first, and what became of each recipient. */
export interface EmailView extends EmailSummaryView {
  readonly attempts: readonly AttemptView[];
  /** Every recipient in the email's order (to, cc, bcc), masked, with its outcome. */
  readonly recipientOutcomes: readonly RecipientRecord[];
}

/** One recipient as `GET /v1/emails/{id}` shows it: masked, its status, a bounce's details, when it last changed. */
export function recipientJson(recipient: RecipientRecord): Record<string, unknown> {
  const { bounce, updatedAt } = recipient;
  return {
    address: recipient.address,
    status: recipient.status,
    ...(bounce === undefined
      ? {}
      : {
          bounce: {
            kind: bounce.kind,
            type: bounce.type,
            subtype: bounce.subtype,
            // The ledger stores it masked; masked again here like a try's error, whoever wrote the row.
            diagnostic: bounce.diagnostic === null ? null : maskAddressesIn(bounce.diagnostic),
          },
        }),
    ...(updatedAt === undefined ? {} : { updated_at: updatedAt.toISOString() }),
  };
}

/** An email's record as `GET /v1/emails` lists it (snake_case, as the rest of the API). */
export function summaryJson(email: EmailSummaryView): Record<string, unknown> {
  return {
    id: email.id,
    status: email.state,
    attempt: email.attempt,
    accepted_at: email.acceptedAt.toISOString(),
    updated_at: email.updatedAt.toISOString(),
    provider: email.provider,
    provider_message_id: email.providerMessageId,
    recipient_count: email.recipientCount,
    recipients: email.recipients,
    tags: email.tags ?? {},
    metadata: email.metadata ?? {},
    in_doubt: email.inDoubt,
  };
}

/**
 * An email's record with every try, as `GET /v1/emails/{id}` answers it. Never a body. Its
 * `recipients` are objects ({@link recipientJson}), where a list's entry ({@link summaryJson}) has
 * the masked addresses alone.
 */
export function emailJson(email: EmailView): Record<string, unknown> {
  return {
    ...summaryJson(email),
    recipients: email.recipientOutcomes.map(recipientJson),
    attempts: email.attempts.map((a) => ({
      attempt: a.attempt,
      provider: a.provider,
      started_at: a.startedAt.toISOString(),
      finished_at: a.finishedAt === null ? null : a.finishedAt.toISOString(),
      outcome: a.outcome,
      error: a.error === null ? null : maskAddressesIn(a.error),
      ambiguous: a.ambiguous,
      provider_message_id: a.providerMessageId,
    })),
  };
}
