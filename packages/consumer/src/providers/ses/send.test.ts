import { EMAIL_ID_TAG, emailIdTags } from './send';

describe('emailIdTags', () => {
  it('when the id is a UUID, then it is the email_id tag', () => {
    const id = '01a2207a-0000-7000-8000-0000000000aa';

    expect(emailIdTags(id)).toEqual({ Tags: [{ Name: EMAIL_ID_TAG, Value: id }] });
  });

  it.each([
    ['an id with a dot', 'a.b'],
    ['an empty id', ''],
    ['an id over 256 characters', 'x'.repeat(257)],
  ])('when the id is %s, which SES refuses as a tag value, then no tag is sent', (_case, id) => {
    expect(emailIdTags(id)).toEqual({});
  });
});
