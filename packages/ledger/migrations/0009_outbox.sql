-- Placeholder: version 9 is issue 16's outbox (branch ev-outbox), which replaces this file when the
-- branches are merged (take ev-outbox's 0009_outbox.sql). It is here only because the migration
-- runner refuses gaps, and 0010_webhooks.sql must run in this branch's tests.
SELECT 1;
