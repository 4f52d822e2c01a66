// Migrations are listed here (not read from a folder) so that they are bundled with the compiled
// code and see the dialect. Names sort in the order they run; never rename or edit a released one.
import { createHash } from 'node:crypto';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import * as m001 from './001_initial.js';
import * as m002 from './002_agent_presence.js';
import * as m003 from './003_deployments.js';
import * as m004 from './004_fencing_sequence.js';
import * as m005 from './005_auth.js';
import * as m006 from './006_secrets.js';
import * as m007 from './007_slo.js';
import * as m009 from './009_alerts.js';
import * as m010 from './010_dr.js';
import * as m011 from './011_sso.js';
import * as m012 from './012_device_login.js';
import * as m013 from './013_source_security.js';
import * as m014 from './014_agent_security.js';
import * as m015 from './015_signin_security.js';
import * as m016 from './016_pipeline_commit.js';
import * as m017 from './017_repo_path.js';
import * as m018 from './018_pipeline_parent.js';
import * as m019 from './019_job_dotenv.js';
import * as m020 from './020_outbox.js';
import * as m021 from './021_schedules.js';
import * as m022 from './022_repo_credentials.js';
import * as m023 from './023_repo_forge.js';
import * as m024 from './024_notifications.js';
import * as m025 from './025_job_coverage.js';
import * as m026 from './026_repo_visibility.js';
import * as m027 from './027_test_reports.js';
import * as m028 from './028_coverage_reports.js';
import * as m029 from './029_job_failure_line.js';
import * as m030 from './030_approval_comments.js';
import * as m031 from './031_test_history.js';
import * as m032 from './032_job_log_blob.js';
import * as m033 from './033_job_needs.js';
import * as m034 from './034_release_image.js';
import * as m035 from './035_registry_images.js';
import * as m038 from './038_blob_sweeps.js';
import * as m039 from './039_environment_hosts.js';
import * as m040 from './040_repo_concurrency.js';
import * as m041 from './041_jobs_pipeline_stage.js';

interface DialectMigration {
  up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void>;
}

const MIGRATIONS: Record<string, DialectMigration> = {
  '001_initial': m001,
  '002_agent_presence': m002,
  '003_deployments': m003,
  '004_fencing_sequence': m004,
  '005_auth': m005,
  '006_secrets': m006,
  '007_slo': m007,
  '009_alerts': m009,
  '010_dr': m010,
  '011_sso': m011,
  '012_device_login': m012,
  '013_source_security': m013,
  '014_agent_security': m014,
  '015_signin_security': m015,
  '016_pipeline_commit': m016,
  '017_repo_path': m017,
  '018_pipeline_parent': m018,
  '019_job_dotenv': m019,
  '020_outbox': m020,
  '021_schedules': m021,
  '022_repo_credentials': m022,
  '023_repo_forge': m023,
  '024_notifications': m024,
  '025_job_coverage': m025,
  '026_repo_visibility': m026,
  '027_test_reports': m027,
  '028_coverage_reports': m028,
  '029_job_failure_line': m029,
  '030_approval_comments': m030,
  '031_test_history': m031,
  '032_job_log_blob': m032,
  '033_job_needs': m033,
  '034_release_image': m034,
  '035_registry_images': m035,
  '038_blob_sweeps': m038,
  '039_environment_hosts': m039,
  '040_repo_concurrency': m040,
  '041_jobs_pipeline_stage': m041,
};

export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS).sort();

export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(MIGRATIONS)) {
        out[name] = { up: (db) => m.up(db, dialect) };
      }
      return out;
    },
  };
}

/**
 * Changes when a migration is added or its code edited (an unreleased one, in development): names
 * the migrated empty databases `openStore` keeps for `:memory:` stores (see schema-image.ts).
 */
export function migrationsFingerprint(): string {
  const hash = createHash('sha256');
  for (const name of MIGRATION_NAMES) hash.update(`${name}\0${MIGRATIONS[name].up.toString()}\0`);
  return hash.digest('hex').slice(0, 16);
}
