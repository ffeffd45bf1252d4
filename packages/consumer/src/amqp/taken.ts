import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { FailureRecord } from '../delivery/send-guard';

/** The worker's consumer on one channel. */
export interface Consumer {
  readonly channel: ConfirmChannel;
  tag: string;
  /** Its prefetch: how many it may have unacked. */
  readonly window: number;
  /** Messages it took that are not settled yet. */
  own: number;
}

/** A delivery the worker took, with the channel that must settle it. */
export interface Taken {
  readonly channel: ConfirmChannel;
  readonly message: ConsumeMessage;
  /** Aborts when the channel closes: the message can no longer be settled and comes back. */
  readonly closed: AbortSignal;
  /** The consumer that took it. */
  readonly from: Consumer;
  /** When it was first held for want of a provider. */
  heldSince?: number;
  /** The token of a claim the ledger never answered, for the next time it is handled. */
  claimToken?: string | undefined;
}

/**
 * A message as the holds see it: whether its channel closed (then it can no longer be settled, and
 * the broker delivers it again).
 */
export interface Kept {
  readonly taken: { readonly closed: AbortSignal };
}

/** A message kept unacked and unsent, with its email id. */
export interface Held extends Kept {
  readonly taken: Taken;
  readonly id: string;
}

/** A message kept unacked and unsent while the ledger cannot be reached. */
export interface LedgerHeld extends Held {
  /** A failed try of its attempt that must be recorded before it is handled again. */
  readonly unrecorded?: FailureRecord;
}
