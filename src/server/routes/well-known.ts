// OpenID discovery for the tokens Tandem signs: a service that trusts job ID tokens (a cloud's
// workload identity federation, Vault's JWT auth) finds the keys from the issuer URL alone.
import { SIGNING_ALG } from '../../auth/index.js';
import type { ServerContext } from '../context.js';
import type { RouteTable } from '../http.js';

/** Verifiers cache the key set; a token signed by a key they have not seen makes them fetch again. */
const JWKS_MAX_AGE_SECONDS = 60;

export function registerWellKnownRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/.well-known/openid-configuration',
    summary: 'OpenID discovery document of the tokens this server issues (job ID tokens)',
    tag: 'auth',
    access: 'public',
    async handler() {
      return {
        issuer: ctx.externalUrl,
        jwks_uri: `${ctx.externalUrl}/.well-known/jwks.json`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: [SIGNING_ALG],
        scopes_supported: ['openid'],
        claims_supported: [
          'iss',
          'sub',
          'aud',
          'exp',
          'iat',
          'nbf',
          'jti',
          'project_id',
          'project_path',
          'pipeline_id',
          'pipeline_source',
          'job_id',
          'job_name',
          'job_stage',
          'ref',
          'ref_type',
          'ref_path',
          'ref_protected',
          'sha',
          'environment',
          'environment_protected',
          'deployment_tier',
        ],
      };
    },
  });

  routes.add({
    method: 'GET',
    url: '/.well-known/jwks.json',
    summary: 'Public keys that verify the tokens this server issues (JWKS)',
    tag: 'auth',
    access: 'public',
    async handler({ reply }) {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return ctx.secrets.signer.jwks();
    },
  });
}
