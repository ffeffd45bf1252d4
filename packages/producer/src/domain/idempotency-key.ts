/** The longest `Idempotency-Key`. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** Whether an `Idempotency-Key` is well formed, and if not, what is wrong with it. */
export type KeyCheck = { readonly ok: true; readonly key: string } | { readonly ok: false; readonly detail: string };

/**
 * Checks an `Idempotency-Key` value: 1-255 printable ASCII characters (space to `~`), the rule
 * the ledger stores keys under. A UUID or any other random string of that form will do.
 */
export function checkIdempotencyKey(raw: string): KeyCheck {
  if (raw.length === 0) return { ok: false, detail: 'Idempotency-Key must not be empty' };
  if (raw.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return {
      ok: false,
      detail: `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters (got ${raw.length})`,
    };
  }
  if (!/^[\x20-\x7e]+$/.test(raw)) {
    return { ok: false, detail: 'Idempotency-Key must be printable ASCII (space to ~), without control characters' };
  }
  return { ok: true, key: raw };
}
