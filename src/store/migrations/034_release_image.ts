// Container releases (issue 20): a release may be an image as well as (or instead of) files.
// releases.image is the image pinned by digest (`registry/name@sha256:...`), never a tag, so a
// rollback starts exactly what ran before whatever the tag points at now; null for file releases.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('releases').addColumn('image', 'text').execute();
}
