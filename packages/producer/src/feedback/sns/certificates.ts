import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { boundedGet, type BoundedGetOptions, type BoundedResponse } from '../bounded-get';
import { certificateFileOf } from './urls';

/**
 * Where the SNS verifier gets the certificate (or bare public key) a message names in
 * `SigningCertURL`. The verifier checks the URL before asking.
 */
export interface CertificateSource {
  /** The PEM for `url`; rejects with {@link CertificateUnavailableError} when it cannot be had. */
  get(url: string): Promise<string>;
}

/** The certificate could not be had (network, folder, or a body that is no PEM). */
export class CertificateUnavailableError extends Error {
  override readonly name = 'CertificateUnavailableError';
}

/** Largest certificate read: SNS's are about 2 KB. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

const looksLikePem = (text: string): boolean => /-----BEGIN [A-Z ]+-----/.test(text);

/** How {@link HttpsCertificateSource} fetches and caches. */
export interface HttpsCertificateSourceOptions {
  /** How long a fetched certificate is used before it is fetched again. */
  readonly ttlMs: number;
  readonly timeoutMs: number;
  /** Certificates kept at once; the oldest goes first. SNS uses a handful. */
  readonly maxEntries?: number;
  /** The GET; {@link boundedGet} unless a test gives another. */
  readonly get?: (url: string, options: BoundedGetOptions) => Promise<BoundedResponse>;
  readonly now?: () => number;
}

/**
 * Fetches certificates over https, bounded in time and size, and caches each by URL for a TTL;
 * concurrent gets of one URL share one fetch, and a failed fetch is not cached.
 */
export class HttpsCertificateSource implements CertificateSource {
  private readonly cache = new Map<string, { readonly pem: Promise<string>; readonly fetchedAt: number }>();
  private readonly fetch: (url: string, options: BoundedGetOptions) => Promise<BoundedResponse>;
  private readonly now: () => number;

  constructor(private readonly options: HttpsCertificateSourceOptions) {
    this.fetch = options.get ?? boundedGet;
    this.now = options.now ?? Date.now;
  }

  get(url: string): Promise<string> {
    const cached = this.cache.get(url);
    if (cached !== undefined && this.now() - cached.fetchedAt < this.options.ttlMs) return cached.pem;
    const pem = this.load(url);
    this.cache.delete(url);
    this.cache.set(url, { pem, fetchedAt: this.now() });
    const maxEntries = this.options.maxEntries ?? 32;
    while (this.cache.size > maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    pem.catch(() => {
      if (this.cache.get(url)?.pem === pem) this.cache.delete(url);
    });
    return pem;
  }

  private async load(url: string): Promise<string> {
    let response: BoundedResponse;
    try {
      response = await this.fetch(url, { timeoutMs: this.options.timeoutMs, maxBytes: MAX_CERTIFICATE_BYTES });
    } catch (error) {
      throw new CertificateUnavailableError(
        `fetching the signing certificate failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (response.status !== 200) {
      throw new CertificateUnavailableError(`fetching the signing certificate answered ${response.status}`);
    }
    if (!looksLikePem(response.body)) throw new CertificateUnavailableError('the signing certificate is not PEM');
    return response.body;
  }
}

/**
 * Reads certificates from a folder (`SNS_CERT_DIR`), keyed by URL:
 * `https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<hex>.pem` is
 * `<dir>/sns.us-east-1.amazonaws.com/SimpleNotificationService-<hex>.pem`. For networks that cannot
 * reach AWS, and for tests (a bare SPKI public key PEM works as well as a certificate).
 */
export class DirectoryCertificateSource implements CertificateSource {
  constructor(private readonly dir: string) {}

  async get(url: string): Promise<string> {
    const file = certificateFileOf(url);
    if (file === undefined) throw new CertificateUnavailableError('not a signing certificate URL');
    // Host and file name passed the URL rules (letters, digits, dots, dashes): no path escapes the folder.
    const path = join(this.dir, file.host, file.file);
    try {
      const info = await stat(path);
      if (!info.isFile() || info.size > MAX_CERTIFICATE_BYTES) {
        throw new CertificateUnavailableError(`${path} is not a file of at most ${MAX_CERTIFICATE_BYTES} bytes`);
      }
      const pem = await readFile(path, 'utf8');
      if (!looksLikePem(pem)) throw new CertificateUnavailableError(`${path} is not PEM`);
      return pem;
    } catch (error) {
      if (error instanceof CertificateUnavailableError) throw error;
      throw new CertificateUnavailableError(`no certificate ${file.host}/${file.file} in SNS_CERT_DIR`);
    }
  }
}
