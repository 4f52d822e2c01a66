// The server's few HTML pages (the sign-in and device-approval pages): no JavaScript, forms that post back.
import type { FastifyReply } from 'fastify';

export const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:34rem;padding:0 1rem;color:#1d1d1f}
label{display:block;margin:.6rem 0}input{font:inherit;padding:.3rem;width:100%;box-sizing:border-box}
button,.button{font:inherit;padding:.4rem 1rem;margin:.6rem .4rem 0 0;cursor:pointer}
.code{font:600 1.6rem ui-monospace,monospace;letter-spacing:.15em}.error{color:#b00020}.note{color:#555}`;

/**
 * What these pages may do: inline style and forms posting to this server, nothing else. Never framed
 * (no other site can dress up an Approve button), and without helmet's upgrade-insecure-requests,
 * which would send the forms of a server on plain http to an https port that is not there.
 */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Sends a whole page. Pages carry CSRF tokens and one-time codes: never stored by a cache. */
export function sendPage(reply: FastifyReply, status: number, title: string, body: string): string {
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', PAGE_CSP);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Tandem</title><style>${STYLE}</style></head>
<body><h1>${escape(title)}</h1>
${body}
</body></html>`;
}
