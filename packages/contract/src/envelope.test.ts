import { ENVELOPE_VERSION, decodeEnvelope, encodeEnvelope, type EmailEnvelope } from './envelope';

const envelope: EmailEnvelope = {
  version: ENVELOPE_VERSION,
  id: '01a2207a-0000-7000-8000-000000000001',
  accepted_at: '2026-12-03T08:00:00.000Z',
  client: 'billing',
  request: { from: { email: 'a@example.com' }, to: [{ email: 'b@example.org' }], subject: 's', text: 't' },
};

const raw = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('decodeEnvelope', () => {
  it('when given what encodeEnvelope made, then it gives the same envelope back', () => {
    expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual({ ok: true, envelope });
  });

  it('when the body is not JSON, then it is undecodable, with no id', () => {
    expect(decodeEnvelope(Buffer.from('{not json'))).toEqual({
      ok: false,
      problem: 'undecodable',
      text: 'the message body is not JSON',
    });
  });

  it('when the version is unknown, then it is undecodable', () => {
    expect(decodeEnvelope(raw({ ...envelope, version: 2 }))).toMatchObject({ ok: false, problem: 'undecodable' });
  });

  it('when the id is missing, then it is undecodable and no id is made up', () => {
    const { id: _id, ...withoutId } = envelope;
    const decoded = decodeEnvelope(raw(withoutId));

    expect(decoded).toMatchObject({ ok: false, problem: 'undecodable', text: 'the envelope has no id' });
    expect(decoded).not.toHaveProperty('id');
  });

  it('when accepted_at is not a time, then it is undecodable under its id', () => {
    expect(decodeEnvelope(raw({ ...envelope, accepted_at: 'yesterday' }))).toMatchObject({
      ok: false,
      problem: 'undecodable',
      id: envelope.id,
    });
  });

  it('when the request fails the schema, then it is invalid under its id, the problem named', () => {
    const decoded = decodeEnvelope(raw({ ...envelope, request: { ...envelope.request, subject: '' } }));

    expect(decoded).toMatchObject({ ok: false, problem: 'invalid', id: envelope.id });
    expect(decoded.ok ? '' : decoded.text).toContain('/subject');
  });
});
