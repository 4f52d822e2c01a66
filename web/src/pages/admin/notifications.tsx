// Your own pipeline notifications: every repository you can read, or the one you name; email to
// your own address by default.
import { Page } from '../../components/common.js';
import { NotificationsSection } from '../../components/notifications.js';

export function MyNotificationsPage() {
  return (
    <Page title="My notifications">
      <NotificationsSection path="/api/v1/user/notifications" canManage mine headingId="my-notifications" />
    </Page>
  );
}
