// Readers of the JSON columns of the auth tables: one validated parser per column, naming table,
// column and row when it fails.
import type { JWK } from 'jose';
import { z } from 'zod';
import { jsonColumn, type AuditEntry, type SigningKey } from '../store/index.js';
import { SCOPES, type Scope } from './permissions.js';

// A scope a later release dropped (or an unknown one) grants nothing: left out, never an error.
const scopes = z.array(z.string()).transform((list) => list.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)));

const tokenScopes = jsonColumn('tokens', 'scopes', scopes);
const auditParams = jsonColumn('audit_log', 'params', z.record(z.string(), z.string()));
const auditDetails = jsonColumn('audit_log', 'details', z.record(z.string(), z.unknown()));
const publicJwk = jsonColumn('signing_keys', 'public_jwk', z.looseObject({ kty: z.string() }));

/** The token's scopes (api, read_api, register_agent). */
export const readTokenScopes = (t: { id: number; scopes: string }): Scope[] => tokenScopes(t.scopes, t.id);
/** The route's path parameters. */
export const readAuditParams = (e: Pick<AuditEntry, 'id' | 'params'>): Record<string, string> | null =>
  e.params === null ? null : auditParams(e.params, e.id);
/** What the route added to the entry (a role granted, a token's name and scopes). */
export const readAuditDetails = (e: Pick<AuditEntry, 'id' | 'details'>): Record<string, unknown> | null =>
  e.details === null ? null : auditDetails(e.details, e.id);
/** The public half of a signing key, as published in the JWKS. */
export const readPublicJwk = (k: Pick<SigningKey, 'kid' | 'public_jwk'>): JWK => publicJwk(k.public_jwk, k.kid);
