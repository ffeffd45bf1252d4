import type { MessageProperties, Options } from 'amqplib';

/** The properties a copy of a message carries over, besides `messageId` and `headers`. */
export type CopiedProperties = Pick<Options.Publish, 'headers' | 'contentType' | 'type' | 'appId' | 'timestamp'>;

/**
 * The message's id as the producer set it (the email id), or `undefined` when it has none. The
 * consumer never makes one up: an id that is not the email's would match nothing downstream.
 */
export function messageIdOf(properties: MessageProperties): string | undefined {
  const id: unknown = properties.messageId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The properties for a copy of a message (a retry, a park, a replay): content type, type, app id
 * and timestamp as they were, with `headers` in place of the original's.
 */
export function copiedProperties(properties: MessageProperties, headers: Record<string, unknown>): CopiedProperties {
  const contentType: unknown = properties.contentType;
  const type: unknown = properties.type;
  const appId: unknown = properties.appId;
  const timestamp: unknown = properties.timestamp;
  return {
    headers,
    ...(typeof contentType === 'string' ? { contentType } : {}),
    ...(typeof type === 'string' ? { type } : {}),
    ...(typeof appId === 'string' ? { appId } : {}),
    ...(typeof timestamp === 'number' ? { timestamp } : {}),
  };
}
