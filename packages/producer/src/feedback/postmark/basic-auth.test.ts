import { basicCredentialsMatch } from './basic-auth';

const expected = { user: 'postmark', password: 's3cret:with-colon' };
const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

describe('basicCredentialsMatch', () => {
  it('when user and password match (a colon in the password too), then they are accepted', () => {
    expect(basicCredentialsMatch(basic('postmark:s3cret:with-colon'), expected)).toBe(true);
    expect(
      basicCredentialsMatch(`basic   ${Buffer.from('postmark:s3cret:with-colon').toString('base64')}`, expected),
    ).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['a Bearer token', 'Bearer postmark:s3cret:with-colon'],
    ['a wrong password', basic('postmark:s3cret')],
    ['a wrong user', basic('Postmark:s3cret:with-colon')],
    ['no colon', basic('postmarks3cret:with-colon'.replace(':', ''))],
    ['the password as user', basic('s3cret:with-colon:postmark')],
    ['an empty header', 'Basic '],
    ['bytes that are not base64', 'Basic ***'],
  ])('when the header has %s, then it is refused', (_name, header) => {
    expect(basicCredentialsMatch(header, expected)).toBe(false);
  });
});
