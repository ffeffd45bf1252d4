import { maskAddress } from './mask';

describe('maskAddress', () => {
  it.each([
    ['jane.doe@example.com', 'j***@example.com'],
    ['j@example.com', 'j***@example.com'],
    ['"odd@local"@example.com', '"***@example.com'],
  ])('when the address is %p, then only its first letter and domain remain: %p', (address, masked) => {
    expect(maskAddress(address)).toBe(masked);
  });

  it.each(['', 'no-at-sign', '@example.com'])('when %p has no local part, then nothing of it is shown', (address) => {
    expect(maskAddress(address)).toBe('***');
  });
});
