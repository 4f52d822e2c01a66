// A second Tandem process: opens the database and tries to take the server lock.
import { acquireInstanceLock, openStore } from '../../src/store/index.js';

const [path, holder] = process.argv.slice(2);
const store = await openStore(path);
try {
  const lock = await acquireInstanceLock(store, holder);
  await lock.release();
  process.send?.({ ok: true });
} catch (err) {
  process.send?.({ ok: false, name: (err as Error).name, message: (err as Error).message });
} finally {
  await store.close();
}
