// What the badge routes share (pipeline.svg, coverage.svg): who may see a repository's badge, and
// how a badge is cached. The drawing is in badge.ts.
import type { Principal } from '../auth/index.js';
import { findRepoByName, type Repo } from '../repos/index.js';
import { requirePermission } from './auth.js';
import { badgeEtag, etagMatches } from './badge.js';
import type { ServerContext } from './context.js';
import { ApiError, type RouteContext } from './http.js';

/**
 * The repository whose badge is asked for: a public one's for anyone; a private one's for its
 * readers only, anyone else getting the unknown repository's answer, so its existence does not leak.
 */
export async function badgeRepo(ctx: ServerContext, name: string, principal: Principal): Promise<Repo> {
  const repo = await findRepoByName(ctx.store.db, name);
  const unknown = new ApiError(404, `no repository named "${name}"`);
  if (!repo) throw unknown;
  if (repo.visibility !== 'public') {
    await requirePermission(ctx, principal, 'repo.read', repo, 'GET').catch(() => {
      throw unknown;
    });
  }
  return repo;
}

/** A badge's query parameter: a repeated one comes as a list and names no one value, as an empty one does. */
export function badgeParam(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Answers with the badge: cacheable by anyone for a public repository, never stored for a private one; 304 when the ETag matches. */
export function sendBadge({ request, reply }: Pick<RouteContext<unknown>, 'request' | 'reply'>, repo: Repo, svg: string): string {
  const etag = badgeEtag(svg);
  reply.header('cache-control', repo.visibility === 'public' ? 'public, max-age=30' : 'private, no-store');
  reply.header('etag', etag);
  if (etagMatches(request.headers['if-none-match'], etag)) {
    reply.code(304);
    return '';
  }
  reply.type('image/svg+xml; charset=utf-8');
  return svg;
}
