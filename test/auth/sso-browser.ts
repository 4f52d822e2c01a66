// The browser's side of a single sign-on against a real Tandem: fetch without following redirects,
// and Tandem's cookies kept by hand (fetch keeps none).
import { SESSION_COOKIE } from '../../src/auth/sessions.js';
import type { Session } from './helpers.js';

export interface Visit {
  status: number;
  /** The Location of a redirect, absolute. */
  location: string | null;
  text: string;
  headers: Headers;
}

export class Browser {
  readonly cookies = new Map<string, string>();

  /** GET (or POST a form) as a browser would, keeping the cookies the answer sets or clears. */
  async visit(url: string, form?: URLSearchParams): Promise<Visit> {
    const res = await fetch(url, {
      method: form ? 'POST' : 'GET',
      body: form,
      redirect: 'manual',
      headers: this.cookies.size > 0 ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const cleared = pair.slice(eq + 1) === '' || attributes.some((a) => /^\s*(max-age=0|expires=Thu, 01 Jan 1970)/i.test(a));
      if (cleared) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
    const location = res.headers.get('location');
    return {
      status: res.status,
      location: location === null ? null : new URL(location, url).href,
      text: await res.text(),
      headers: res.headers,
    };
  }

  /** The session this browser holds, with its CSRF token, for the API helpers (`as: { session }`). */
  async session(baseUrl: string): Promise<Session> {
    const cookie = `${SESSION_COOKIE}=${this.cookies.get(SESSION_COOKIE) ?? ''}`;
    const res = await fetch(`${baseUrl}/api/v1/session`, { headers: { cookie } });
    const body = (await res.json()) as { csrfToken?: string; message?: string };
    if (res.status !== 200 || !body.csrfToken)
      throw new Error(`GET /api/v1/session with the browser's cookie: ${res.status} ${body.message}`);
    return { cookie, csrf: body.csrfToken };
  }
}
