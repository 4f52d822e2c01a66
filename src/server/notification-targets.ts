// Where pipeline notifications may be posted, by who asked: the outbound rule of repository URLs and
// include:remote applies (src/server/repo-url.ts). A URL whose host is inside the server's network
// (loopback, private, link-local) is for instance admins only; checked when the subscription is made
// and again at each send, so a name that later resolves inside (DNS rebinding) is refused then.
import type { NotificationType } from '../api/index.js';
import type { NotificationSubscription } from '../outbox/index.js';
import type { Principal } from '../auth/index.js';
import type { ServerContext } from './context.js';
import { checkOutboundUrl, internalRemoteHost } from './repo-url.js';

function hostOf(target: string): string | null {
  try {
    return new URL(target).hostname;
  } catch {
    return null;
  }
}

/** Refuses (403) a URL inside the server's network to anyone but an instance admin. Email targets have no host to check. */
export async function checkNotificationTarget(type: NotificationType, target: string, principal: Principal): Promise<void> {
  if (type === 'email') return;
  await checkOutboundUrl(target, { admin: principal.kind === 'user' && principal.admin }, { field: 'target', sends: 'notifications' });
}

/** For the notification handler: why a subscription's URL may not be posted to now; null when it may. */
export function notificationTargetRefusal(ctx: Pick<ServerContext, 'store'>) {
  return async (url: string, sub: NotificationSubscription): Promise<string | null> => {
    const creator = await ctx.store.db.selectFrom('users').select('admin').where('username', '=', sub.created_by).executeTakeFirst();
    if (creator?.admin === 1) return null;
    const host = hostOf(url);
    return host === null ? `${url} is not a URL` : internalRemoteHost(host);
  };
}
