import type { FailureKind } from '@mailer/contract';

/**
 * One named row of a provider's failure table. Every adapter classifies its failures with a table
 * of this shape (`<name>/errors.ts`): the facts it reads from what its SDK threw, then the first
 * row whose `match` passes decides the kind. The tests name the rows they expect, so a row moved
 * or inserted cannot silently change which one decides.
 */
export interface FailureRow<Facts> {
  /** Stable name, `<provider>-<what>` (`postmark-406-inactive-recipient`): tests and docs refer to it. */
  readonly name: string;
  readonly match: (facts: Facts) => boolean;
  /** What `match` tests, in the provider's terms, where the code alone does not read plainly. */
  readonly matches?: string;
  readonly kind: FailureKind;
  /**
   * True when the provider may have taken the email all the same (the answer was lost after it
   * had the whole request). SMTP reads it together with how far the send got, which only the
   * adapter knows: its rows say whether a failure of their sort can come after the hand-over.
   */
  readonly ambiguous: boolean;
  /** Why this row says what it says, kept beside it so that the table documents itself. */
  readonly why: string;
}

/**
 * The first row of `table` that matches `facts`. Every table ends with a row that matches
 * anything, so there always is one; a table without it is a defect, reported as such.
 */
export function firstMatchingRow<Facts>(table: readonly FailureRow<Facts>[], facts: Facts): FailureRow<Facts> {
  const row = table.find((candidate) => candidate.match(facts));
  if (row === undefined) throw new Error('a failure table must end with a row that matches anything');
  return row;
}
