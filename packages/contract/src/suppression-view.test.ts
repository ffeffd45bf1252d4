import { suppressionJson } from './suppression-view';

describe('suppressionJson', () => {
  it('when an entry came from a provider event, then it shows the email and provider and never the event key', () => {
    const json = suppressionJson({
      masked: 'j***@example.org',
      reason: 'hard-bounce',
      createdAt: new Date('2026-12-01T10:00:00Z'),
      source: { emailId: '01890a5d-ac96-774b-bcce-b302099a8057', provider: 'ses', eventKey: 'subscription:x:abcdef' },
      createdBy: 'provider',
    });
    expect(json).toEqual({
      address: 'j***@example.org',
      reason: 'hard-bounce',
      created_at: '2026-12-01T10:00:00.000Z',
      expires_at: null,
      note: null,
      created_by: 'provider',
      source: { email_id: '01890a5d-ac96-774b-bcce-b302099a8057', provider: 'ses' },
    });
    expect(JSON.stringify(json)).not.toContain('abcdef');
  });

  it('when a manual entry is shown, then it has no source, and any full address in it is masked', () => {
    const json = suppressionJson({
      masked: 'jane.doe@example.org',
      reason: 'manual',
      createdAt: new Date('2026-12-01T10:00:00Z'),
      expiresAt: new Date('2027-01-01T00:00:00Z'),
      note: 'asked by jane.doe@example.org',
      createdBy: 'ops',
    });
    expect(json).toMatchObject({
      address: 'j***@example.org',
      expires_at: '2027-01-01T00:00:00.000Z',
      note: 'asked by j***@example.org',
      source: null,
    });
  });
});
