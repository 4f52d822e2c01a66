// Keys and self-signed certificates made by the openssl CLI, for services that speak TLS (slapd) and
// for identity providers that sign (SAML), in a directory the caller owns and removes.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestCertificate {
  keyFile: string;
  certFile: string;
  /** PEM texts of the two files. */
  key: string;
  cert: string;
}

/**
 * An RSA key and a certificate for `commonName`, valid for a day. The certificate is its own CA, so
 * a client trusts it by naming it as the CA. `ip` adds an IP subject alternative name for TLS.
 */
export async function selfSignedCertificate(
  dir: string,
  name: string,
  options: { commonName?: string; ip?: string } = {},
): Promise<TestCertificate> {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  const san = options.ip ? ['-addext', `subjectAltName=IP:${options.ip}`] : [];
  await execFileP(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${options.commonName ?? name}`,
      ...san,
    ],
    { timeout: 30_000 },
  );
  return { keyFile, certFile, key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}
