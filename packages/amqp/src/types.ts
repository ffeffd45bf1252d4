export type { Logger } from '@mailer/service';
