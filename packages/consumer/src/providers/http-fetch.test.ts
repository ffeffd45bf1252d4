import { BufferedResponse } from './http-fetch';

const answer = (status: number, body = '{"MessageID":"m-1"}'): BufferedResponse =>
  new BufferedResponse(
    'http://127.0.0.1/email',
    status,
    'OK',
    ['Content-Type', 'application/json', 'X-Extra', 'a', 'x-extra', 'b'],
    Buffer.from(body),
  );

describe('the buffered response of the http fetch', () => {
  it('when the status is 2xx, then it is ok, and otherwise not', () => {
    expect(answer(200).ok).toBe(true);
    expect(answer(299).ok).toBe(true);
    expect(answer(302).ok).toBe(false);
    expect(answer(422).ok).toBe(false);
  });

  it('when the body is read as JSON, then it parses, and a second read rejects as fetch does', async () => {
    const response = answer(200);

    await expect(response.json()).resolves.toEqual({ MessageID: 'm-1' });
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toThrow(TypeError);
  });

  it('when the body is not UTF-8 text, then its bytes come back unchanged', async () => {
    const bytes = Buffer.from([0, 255, 10, 128]);
    const response = new BufferedResponse('http://127.0.0.1/', 200, 'OK', [], bytes);

    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
  });

  it('when headers are read, then names match in any case and repeated ones are joined', () => {
    const { headers } = answer(200);

    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('X-EXTRA')).toBe('a, b');
  });
});
