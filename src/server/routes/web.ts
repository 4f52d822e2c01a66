// The web UI: the app Vite built into dist/web, served by every replica. Any GET that is not the
// API or one of the server's own pages gets the app's index.html, so every UI path can be
// bookmarked and reloaded. Assets are content-hashed: cached for a year, compressed once in memory.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';

/** dist/web beside dist/src (this file runs from dist/src/server/routes). */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

/**
 * What the app may do: its own scripts and styles, requests to this server (the API and its event
 * streams), never framed. React's `style` props go through the CSSOM, which CSP does not govern.
 */
const APP_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

interface Asset {
  type: string;
  raw: Buffer;
  gzip: Buffer;
  brotli: Buffer;
}

/** The built app, read once: a missing build answers with how to make one. */
interface Bundle {
  index: string | null;
  assets: Map<string, Asset>;
}

const gzipped = promisify(gzip);
const brotlied = promisify(brotliCompress);

/** Read and compressed on first use, in libuv's threads: about half a second that never blocks requests. */
async function loadBundle(dir: string): Promise<Bundle> {
  const indexPath = path.join(dir, 'index.html');
  const assetDir = path.join(dir, 'assets');
  const names = existsSync(assetDir) ? (await readdir(assetDir)).filter((name) => CONTENT_TYPES[path.extname(name)]) : [];
  const assets = new Map<string, Asset>(
    await Promise.all(
      names.map(async (name): Promise<[string, Asset]> => {
        const raw = await readFile(path.join(assetDir, name));
        const [gz, br] = await Promise.all([gzipped(raw, { level: 9 }), brotlied(raw)]);
        return [name, { type: CONTENT_TYPES[path.extname(name)], raw, gzip: gz, brotli: br }];
      }),
    ),
  );
  return { index: existsSync(indexPath) ? await readFile(indexPath, 'utf8') : null, assets };
}

function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: Asset): Buffer {
  const accepted = String(request.headers['accept-encoding'] ?? '');
  reply.type(asset.type).header('cache-control', 'public, max-age=31536000, immutable').header('vary', 'accept-encoding');
  if (/\bbr\b/.test(accepted)) {
    reply.header('content-encoding', 'br');
    return asset.brotli;
  }
  if (/\bgzip\b/.test(accepted)) {
    reply.header('content-encoding', 'gzip');
    return asset.gzip;
  }
  return asset.raw;
}

export function registerWebRoutes(routes: RouteTable, _ctx: ServerContext, dir = WEB_DIR): void {
  let bundle: Promise<Bundle> | null = null;
  // A failed read (a build being replaced under the server) is tried again by the next request.
  const built = () =>
    (bundle ??= loadBundle(dir).catch((err: unknown) => {
      bundle = null;
      throw err;
    }));

  const sendApp = async (reply: FastifyReply): Promise<string> => {
    const index = (await built()).index;
    reply.header('cache-control', 'no-cache').header('content-security-policy', APP_CSP);
    if (index === null) {
      reply.code(503).type('text/plain; charset=utf-8');
      return `Tandem's web UI is not built (no ${path.join(dir, 'index.html')}): run npm run build. The API is at /api/v1/openapi.json.\n`;
    }
    reply.type('text/html; charset=utf-8');
    return index;
  };

  routes.add({
    method: 'GET',
    url: '/',
    summary: 'The web UI',
    tag: 'web',
    access: 'public',
    produces: 'text/html',
    async handler({ reply }) {
      return sendApp(reply);
    },
  });

  routes.add({
    method: 'GET',
    url: '/assets/*',
    summary: "The web UI's scripts and styles (content-hashed names, cached for a year)",
    tag: 'web',
    access: 'public',
    produces: 'text/javascript',
    async handler({ request, reply, params }) {
      const name = params['*'] ?? '';
      const asset = (await built()).assets.get(name);
      if (!asset) throw new ApiError(404, `no web UI asset ${JSON.stringify(name)}: the page may come from an older build, reload it`);
      return sendAsset(request, reply, asset);
    },
  });

  routes.add({
    method: 'GET',
    url: '/*',
    summary: "The web UI's pages (any other path the API does not answer): the app, which routes in the browser",
    tag: 'web',
    access: 'public',
    produces: 'text/html',
    async handler({ request, reply }) {
      const url = request.url;
      if (url.startsWith('/api/') || url === '/api')
        throw new ApiError(404, `no API route GET ${url.split('?')[0]}: see /api/v1/openapi.json`);
      return sendApp(reply);
    },
  });
}
