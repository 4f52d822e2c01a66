// The server's few HTML pages (the sign-in and device-approval pages): no JavaScript, forms that post
// back. They look like the web UI's own sign-in page: its colours (light, dark, or the theme the user
// chose in the app, which the app keeps in a cookie for these pages), its buttons and boxes.
import type { FastifyReply } from 'fastify';

export const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The app's theme choice (web/src/theme.ts writes it): pages without JavaScript cannot read localStorage. */
export const THEME_COOKIE = 'tandem_theme';

/**
 * The app's colour tokens (web/src/styles.css `:root` and its dark block), the same values:
 * test/web/sign-in-page.test.ts fails when the two drift apart.
 */
const LIGHT =
  '--bg:#ffffff;--bg-soft:#f4f5f7;--bg-raised:#ffffff;--fg:#1d1f23;--fg-muted:#545a63;--border:#d5d8dd;--accent:#0b57d0;--accent-fg:#ffffff;--danger:#b3261e;--danger-bg:#fde3e1;--focus:#0b57d0;color-scheme:light';
const DARK =
  '--bg:#16181c;--bg-soft:#1f2227;--bg-raised:#23272d;--fg:#e6e8eb;--fg-muted:#a6adb8;--border:#3a3f47;--accent:#8ab4f8;--accent-fg:#0c1a33;--danger:#f5948c;--danger-bg:#45201d;--focus:#8ab4f8;color-scheme:dark';

const STYLE = `:root{${LIGHT}}
@media (prefers-color-scheme:dark){:root:not([data-theme='light']){${DARK}}}
:root[data-theme='dark']{${DARK}}
*{box-sizing:border-box}
html,body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}
main{max-width:22rem;margin:12vh auto;padding:0 1rem}
.brand{font-weight:700;font-size:1.2rem;color:var(--fg-muted);margin:0 0 .5rem}
h1{font-size:1.5rem;margin:0 0 1rem}
a{color:var(--accent)}:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
label{display:block;margin:.6rem 0}
input,select{display:block;width:100%;margin-top:.2rem;font:inherit;color:inherit;background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:.35rem .5rem}
button,.button{font:inherit;color:inherit;background:var(--bg-raised);border:1px solid var(--border);border-radius:6px;padding:.35rem .9rem;margin:.6rem .4rem 0 0;cursor:pointer;text-decoration:none;display:inline-block}
button[type=submit]:first-of-type{background:var(--accent);color:var(--accent-fg);border-color:var(--accent)}
.sso{display:flex;flex-direction:column;gap:.5rem;margin-top:1rem}.sso .button{margin:0;text-align:center}
.code{font:600 1.6rem ui-monospace,monospace;letter-spacing:.15em}
.error{background:var(--danger-bg);color:var(--danger);border-radius:6px;padding:.6rem .8rem;margin:.5rem 0}
.note{color:var(--fg-muted)}`;

/**
 * What these pages may do: inline style and forms posting to this server, nothing else. Never framed
 * (no other site can dress up an Approve button), and without helmet's upgrade-insecure-requests,
 * which would send the forms of a server on plain http to an https port that is not there.
 */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Sends a whole page. Pages carry CSRF tokens and one-time codes: never stored by a cache. */
export function sendPage(reply: FastifyReply, status: number, title: string, body: string): string {
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', PAGE_CSP);
  const theme = reply.request.cookies[THEME_COOKIE];
  const themed = theme === 'light' || theme === 'dark' ? ` data-theme="${theme}"` : '';
  return `<!doctype html><html lang="en"${themed}><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Tandem</title><style>${STYLE}</style></head>
<body><main><p class="brand">Tandem</p><h1>${escape(title)}</h1>
${body}
</main></body></html>`;
}
