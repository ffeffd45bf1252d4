import fc from 'fast-check';
import { maskAddress, maskAddressesIn } from './mask';

describe('maskAddress', () => {
  it.each([
    ['jane.doe@example.com', 'j***@example.com'],
    ['j@example.com', 'j***@example.com'],
    ['"odd@local"@example.com', '"***@example.com'],
    ['😀smile@example.com', '😀***@example.com'],
  ])('when the address is %p, then only its first letter and domain remain: %p', (address, masked) => {
    expect(maskAddress(address)).toBe(masked);
  });

  it.each(['', 'no-at-sign', '@example.com'])('when %p has no local part, then nothing of it is shown', (address) => {
    expect(maskAddress(address)).toBe('***');
  });
});

describe('maskAddressesIn', () => {
  it.each([
    [
      'Postfix, bracketed',
      '550 5.1.1 <jane.doe@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
      '550 5.1.1 <j***@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
    ],
    [
      'Postfix, greylisting (transient)',
      '450 4.2.0 <bcc.person@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html',
      '450 4.2.0 <b***@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html',
    ],
    [
      "nodemailer's summary of every recipient refused",
      "smtp: RCPT TO: Can't send mail - all recipients were rejected: 550 5.1.1 <jane@example.org>: Recipient address rejected",
      "smtp: RCPT TO: Can't send mail - all recipients were rejected: 550 5.1.1 <j***@example.org>: Recipient address rejected",
    ],
    [
      'Exim, several lines',
      '550-Verification failed for <jane@example.org>\n550-Unrouteable address\n550 Sender verify failed for jane@example.org',
      '550-Verification failed for <j***@example.org>\n550-Unrouteable address\n550 Sender verify failed for j***@example.org',
    ],
    [
      'Exchange Online, unbracketed',
      '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient Jane.Doe@contoso.com not found by SMTP address lookup',
      '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient J***@contoso.com not found by SMTP address lookup',
    ],
    [
      'Postmark 406, a list of addresses',
      'Postmark answered HTTP 422 with ErrorCode 406 (inactive recipient): You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: jane@example.org, bob.smith+tag@example.net. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
      'Postmark answered HTTP 422 with ErrorCode 406 (inactive recipient): You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: j***@example.org, b***@example.net. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
    ],
    [
      'Postmark JSON answer, a quoted display name',
      '{"ErrorCode":300,"Message":"Invalid \'To\' address: \'Jane Doe <jane.doe@example.org>\'."}',
      '{"ErrorCode":300,"Message":"Invalid \'To\' address: \'Jane Doe <j***@example.org>\'."}',
    ],
    [
      'SES, identities not verified',
      'MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: sender@example.com, jane@example.org',
      'MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: s***@example.com, j***@example.org',
    ],
    [
      'SES JSON with a JSON-escaped quoted local part',
      '{"message":"Illegal address: \\"jane doe\\"@example.org","__type":"InvalidParameterValue"}',
      '{"message":"Illegal address: \\"***@example.org","__type":"InvalidParameterValue"}',
    ],
    ['a quoted local part', '550 <"jane doe"@example.org>: unknown', '550 <"***@example.org>: unknown'],
    ['a quoted local part holding an @', 'no such user "odd@local"@example.com', 'no such user "***@example.com'],
    [
      'UTF-8 local part and IDN domain',
      '550 5.1.1 <josé.müller@bücher.example>: no mailbox',
      '550 5.1.1 <j***@bücher.example>: no mailbox',
    ],
    ['a Cyrillic address', 'Адрес иван@пример.рф отклонён', 'Адрес и***@пример.рф отклонён'],
    ['an address literal', 'rejected: <jane@[192.0.2.1]>', 'rejected: <j***@[192.0.2.1]>'],
    ['an address ending a sentence', 'Mailbox full: jane@example.org.', 'Mailbox full: j***@example.org.'],
    ['a single-letter local part', '550 <j@example.org> unknown', '550 <j***@example.org> unknown'],
  ])('when the text is %s, then each address keeps its first letter and domain only', (_what, text, masked) => {
    expect(maskAddressesIn(text)).toBe(masked);
  });

  it.each([
    'smtp: connection refused (ECONNREFUSED)',
    'every provider circuit is open',
    'an @ alone, an @-mention, a trailing @',
    'user@ with no domain, @example.org with no user',
    '',
  ])('when %p holds no address, then it comes out unchanged', (text) => {
    expect(maskAddressesIn(text)).toBe(text);
  });

  it('when one address is masked, then it reads as maskAddress masks it, so the ledger and the texts agree', () => {
    for (const address of ['jane.doe@example.com', '"odd@local"@example.com', 'ü@bücher.example']) {
      expect(maskAddressesIn(address)).toBe(maskAddress(address));
    }
  });

  it('when a text is masked twice, then the second pass changes nothing', () => {
    const once = maskAddressesIn('550 <jane@example.org>, "a b"@example.net and x@y.example');
    expect(once).toBe('550 <j***@example.org>, "***@example.net and x***@y.example');
    expect(maskAddressesIn(once)).toBe(once);
  });

  describe('properties', () => {
    /*
     * Texts around an address in a real reply are set apart from it by a delimiter (space, <>,
     * quotes, punctuation); without one the address is just part of a longer one, masked as that.
     */
    const delimiters = fc.constantFrom(' ', '\n', '\t', '<', '>', '(', ')', ',', ';', ':', '[', ']', '\u00a0');
    const anyText = fc.string({ unit: 'binary', maxLength: 60 });
    /** An address already in masked form (`j***@x`) is left as it is: it is no full address. */
    const notMaskedForm = (address: string): boolean => !/^.?\*+@/u.test(address);
    const quotedLocal = fc
      .tuple(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }), fc.domain())
      .map(([local, domain]) => `"${local.replace(/["\\]/g, '')}x"@${domain}`);
    const utf8Local = fc
      .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }), fc.domain())
      .map(([local, domain]) => `${local.replace(/[\s"@<>()[\]\\,;:\u0085\u00a0\u2028\u2029]/gu, '')}é@${domain}`);
    const addresses = fc.oneof(fc.emailAddress(), quotedLocal, utf8Local).filter(notMaskedForm);

    it('when any address is embedded in any text, then the full address is not in what comes out', () => {
      fc.assert(
        fc.property(anyText, delimiters, addresses, delimiters, anyText, (before, left, address, right, after) => {
          const masked = maskAddressesIn(`${before}${left}${address}${right}${after}`);
          expect(masked).not.toContain(address);
          // What stays of it: the domain, readable.
          expect(masked).toContain(address.slice(address.lastIndexOf('@')));
        }),
        { numRuns: 2000 },
      );
    });

    it('when a text has no @, then it comes out unchanged', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'binary' }).filter((text) => !text.includes('@')),
          (text) => maskAddressesIn(text) === text,
        ),
      );
    });

    it('when any text is masked, then masking it again changes nothing', () => {
      const parts = fc.array(fc.oneof(anyText, addresses, fc.constantFrom('@', '"', '"@', '\\"')), { maxLength: 12 });
      fc.assert(
        fc.property(parts, (texts) => {
          const once = maskAddressesIn(texts.join(''));
          return maskAddressesIn(once) === once;
        }),
      );
    });
  });

  describe('hostile texts of 1 MB', () => {
    /*
     * Each would take a backtracking pattern or a naive scan back from every @ hours (quadratic in
     * 10^6); a linear scan takes milliseconds. The bound is the test's timeout, not a measured time.
     */
    const MB = 1 << 20;
    const same = (text: string) => text;
    it.each([
      ['one long local part', `${'a'.repeat(MB)}@example.org`, () => 'a***@example.org'],
      ['only @', '@'.repeat(MB), same],
      ['a@ repeated', 'a@'.repeat(MB / 2), () => `${'a***@'.repeat(MB / 2 - 1)}a@`],
      // No domain after any of these @: nothing to mask, but each @ is looked at.
      ['"@ repeated', '"@'.repeat(MB / 2), same],
      ['a quote, then a@x repeated', `"${'a@x'.repeat(MB / 3)}"@example.org`, () => '"***@example.org'],
      // The last `"."` is the quoted local part.
      ['dots and quotes', `${'."'.repeat(MB / 2)}@x`, (text: string) => `${text.slice(0, -4)}***@x`],
      ['escaped quotes', `${'\\"a'.repeat(MB / 3)}@x`, (text: string) => `${text.slice(0, -2)}***@x`],
    ])('when the text is %s, then it is masked in one pass', (_what, text, expected) => {
      expect(maskAddressesIn(text) === expected(text)).toBe(true);
    });
  });
});
