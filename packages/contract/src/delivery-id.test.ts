import { deliveryIdOf } from './webhooks';

const eventId = '01890a5d-ac96-774b-bcce-b302099a8057';
const endpointId = '0193a4f0-1111-7222-8333-944455556666';

describe('deliveryIdOf', () => {
  test('when the same event and endpoint are given twice, then the id is the same, a UUID of version 5 and the RFC variant', () => {
    const id = deliveryIdOf(eventId, endpointId);
    expect(deliveryIdOf(eventId, endpointId)).toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  // The value the `uuid` package's v5(`${eventId}\n${endpointId}`, '5b0c6a2e-7d3f-4e1a-9c8b-2f6d4e0a1c3b') gives.
  test('when the fan-out and the replay derive it, then both get this fixed value (the derivation must not change)', () => {
    expect(deliveryIdOf(eventId, endpointId)).toBe('73fa888e-f9b7-54f9-9fcf-b68638274190');
  });

  test('when the event or the endpoint differs, or the two are swapped, then the id differs', () => {
    const id = deliveryIdOf(eventId, endpointId);
    expect(deliveryIdOf(endpointId, eventId)).not.toBe(id);
    expect(deliveryIdOf(eventId, '0193a4f0-1111-7222-8333-944455556667')).not.toBe(id);
    expect(deliveryIdOf('01890a5d-ac96-774b-bcce-b302099a8058', endpointId)).not.toBe(id);
  });
});
