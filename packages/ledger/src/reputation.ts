import type { ProviderReputation } from '@mailer/contract';
import { query } from './statements';
import type { Queryable } from './types';

/**
 * The smallest UUIDv7 of a millisecond: email ids are UUIDv7 (the producer's), whose first 48 bits
 * are the time they were given, so `id >= this` selects the emails accepted since then through the
 * primary key, with no index on `accepted_at`.
 */
export function firstUuidv7At(time: Date): string {
  const hex = Math.max(0, Math.floor(time.getTime())).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/**
 * Per provider, the recipients of the emails it took (state sent or later) among those accepted
 * since `since`, and how many of those recipients hard-bounced or complained so far: what the
 * providers' review thresholds are about (SES: bounces 5 % and 10 %, complaints 0.1 % and 0.5 %).
 * Two statements over the window's emails, by their ids.
 */
export async function readReputation(db: Queryable, since: Date): Promise<ProviderReputation[]> {
  const from = firstUuidv7At(since);
  const [sent, outcomes] = await Promise.all([
    query<{ provider: string; recipients: string }>(
      db,
      'reading provider reputation',
      `SELECT provider, sum(recipient_count)::bigint AS recipients
       FROM emails
       WHERE id >= $1::uuid AND state_rank >= 10 AND provider IS NOT NULL
       GROUP BY provider`,
      [from],
    ),
    query<{ provider: string; hard_bounced: string; complained: string }>(
      db,
      'reading provider reputation',
      `SELECT e.provider,
         count(*) FILTER (WHERE o.outcome = 'bounced' AND o.bounce_kind = 'hard')::bigint AS hard_bounced,
         count(*) FILTER (WHERE o.outcome = 'complained')::bigint AS complained
       FROM recipient_outcomes AS o JOIN emails AS e ON e.id = o.email_id
       WHERE o.email_id >= $1::uuid AND e.provider IS NOT NULL
       GROUP BY e.provider`,
      [from],
    ),
  ]);
  const byProvider = new Map<string, ProviderReputation>();
  for (const row of sent) {
    byProvider.set(row.provider, {
      provider: row.provider,
      recipients: Number(row.recipients),
      hardBounced: 0,
      complained: 0,
    });
  }
  for (const row of outcomes) {
    const entry = byProvider.get(row.provider) ?? {
      provider: row.provider,
      recipients: 0,
      hardBounced: 0,
      complained: 0,
    };
    byProvider.set(row.provider, {
      ...entry,
      hardBounced: Number(row.hard_bounced),
      complained: Number(row.complained),
    });
  }
  return [...byProvider.values()].sort((a, b) => a.provider.localeCompare(b.provider));
}
