// Request bodies for the benches: valid emails of about 1 KB of JSON each.
import { Buffer } from 'node:buffer';
import contract from '@mailer/contract';

const { MAX_BATCH_SIZE, validateEmailBatch, validateEmailRequest } = contract;

/** Target size of one email's JSON. */
export const EMAIL_BYTES = 1024;

const filler =
  'Your receipt for order 4711 is attached below. Thank you for shopping with Example. ' +
  'If you did not make this purchase, reply to this message and our team will look into it. ';

/** One valid email request whose JSON is `EMAIL_BYTES` long (the `text` is padded to fit). */
export function email(index) {
  const request = {
    from: { email: 'no-reply@example.com', name: 'Example Receipts' },
    to: [{ email: `customer-${index}@example.org`, name: `Customer ${index}` }],
    reply_to: [{ email: 'support@example.com' }],
    subject: `Your receipt #${100000 + index}`,
    text: '',
    headers: { 'X-Campaign': 'bench' },
    tags: { kind: 'receipt', source: 'bench' },
    metadata: { order: 4711 + index, bench: true },
  };
  const base = Buffer.byteLength(JSON.stringify(request));
  let text = '';
  while (text.length < EMAIL_BYTES - base) text += filler;
  request.text = text.slice(0, Math.max(0, EMAIL_BYTES - base));
  return request;
}

/** The `POST /v1/emails` body, checked with the contract's own validator so a 400 can never skew a run. */
export function singleBody() {
  const request = email(0);
  const validated = validateEmailRequest(request);
  if (!validated.ok) throw new Error(`bench email is invalid: ${JSON.stringify(validated.problems)}`);
  return JSON.stringify(request);
}

/** The `POST /v1/emails/batch` body with `size` emails (at most the API's batch limit), checked too. */
export function batchBody(size = MAX_BATCH_SIZE) {
  const body = { emails: Array.from({ length: size }, (_v, i) => email(i)) };
  const validated = validateEmailBatch(body);
  if (!validated.ok) throw new Error(`bench batch is invalid: ${JSON.stringify(validated.problems.slice(0, 3))}`);
  return JSON.stringify(body);
}
