// Deployments: environments per repository and their releases. A release keeps what is needed to
// make it live again without the pipeline or the git remote: its file manifest (blobs stay in the
// artifact store while a release references them), the deploy block it was deployed with, and the
// agent tags that can reach its target.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  // The environment a job deploys to: the deploy lock and superseding look jobs up by it.
  await s.alterTable('jobs').addColumn('environment', 'text').execute();

  await withId(s.createTable('environments'), dialect)
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('tier', 'text')
    .addColumn('url', 'text')
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('environments_repo_name', ['repo_id', 'name'])
    .execute();

  await withId(s.createTable('releases'), dialect)
    .addColumn('environment_id', 'bigint', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('repo_id', 'bigint', (c) => c.notNull().references('repos.id').onDelete('cascade'))
    // No foreign keys to pipelines and jobs: pruning pipelines must not rewrite deployment history.
    .addColumn('pipeline_id', 'bigint')
    .addColumn('job_id', 'bigint', (c) => c.unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('rollback_of', 'bigint')
    .addColumn('sha', 'text', (c) => c.notNull())
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('files', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('deploy_spec', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('fencing_token', 'bigint')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('decision', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await s.createIndex('releases_environment').on('releases').columns(['environment_id', 'id']).execute();
  await s.createIndex('releases_environment_status').on('releases').columns(['environment_id', 'status']).execute();
}
