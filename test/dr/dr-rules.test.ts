// The disaster-recovery alert rules (ops/prometheus/tandem-dr.rules.yml) checked and unit-tested
// with the real promtool: a backup past the RPO, a failed drill and an overdue drill fire, healthy
// series do not, and two replicas reporting the same destination make one alert.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promtool, promtoolSkipReason } from '../monitor/promtool.js';
import { repoRoot } from '../support/git.js';

const RULES = path.join(repoRoot(), 'ops', 'prometheus', 'tandem-dr.rules.yml');
const DEST = 's3://backups/tandem';

const TESTS = `rule_files: [tandem-dr.rules.yml]
tests:
  - interval: 1m
    input_series:
      # The backup age grows a minute a minute from 22 h; a replica lagging behind reports less.
      - series: 'tandem_backup_age_seconds{destination="${DEST}", instance="a"}'
        values: '79200+60x300'
      - series: 'tandem_backup_age_seconds{destination="${DEST}", instance="b"}'
        values: '79140+60x300'
      - series: 'tandem_backup_age_seconds{destination="/srv/backups"}'
        values: '600+60x300'
      - series: 'tandem_dr_drill_failed{destination="${DEST}", instance="a"}'
        values: '0x10 1x10'
      - series: 'tandem_dr_drill_failed{destination="${DEST}", instance="b"}'
        values: '0x10 1x10'
    alert_rule_test:
      - { eval_time: 200m, alertname: TandemBackupTooOld, exp_alerts: [] }
      # 26 h is passed after 241 min (the lagging replica's minimum counts), then 15 min pending.
      - { eval_time: 250m, alertname: TandemBackupTooOld, exp_alerts: [] }
      - eval_time: 258m
        alertname: TandemBackupTooOld
        exp_alerts:
          - exp_labels: { severity: page, destination: '${DEST}' }
            exp_annotations:
              summary: The newest backup at ${DEST} is 1d 2h 17m 0s old; the RPO objective is 24 h.
              runbook_url: docs/disaster-recovery.md#backup-too-old
      - { eval_time: 9m, alertname: TandemDrDrillFailed, exp_alerts: [] }
      - eval_time: 12m
        alertname: TandemDrDrillFailed
        exp_alerts:
          - exp_labels: { severity: ticket, destination: '${DEST}' }
            exp_annotations:
              summary: The latest disaster-recovery drill of the backups at ${DEST} failed; restoring them may fail too.
              runbook_url: docs/disaster-recovery.md#dr-drill-failed
  - interval: 5m
    input_series:
      # The last successful drill finished at t = 1 day (samples every 5 min, within the lookback).
      - series: 'tandem_dr_drill_last_success_timestamp_seconds{destination="${DEST}"}'
        values: '86400x3000'
    alert_rule_test:
      - { eval_time: 8d, alertname: TandemDrDrillOverdue, exp_alerts: [] }
      - eval_time: 9d2h
        alertname: TandemDrDrillOverdue
        exp_alerts:
          - exp_labels: { severity: ticket, destination: '${DEST}' }
            exp_annotations:
              summary: No drill of the backups at ${DEST} has passed for 8d 2h 0m 0s; drills are due weekly.
              runbook_url: docs/disaster-recovery.md#dr-drill-failed
`;

describe('disaster-recovery alert rules', { skip: promtoolSkipReason() }, () => {
  test('promtool checks the rule file and its unit tests pass', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tandem-dr-rules-'));
    try {
      await copyFile(RULES, path.join(dir, 'tandem-dr.rules.yml'));
      await writeFile(path.join(dir, 'tests.yml'), TESTS);
      const checked = await promtool(['check', 'rules', 'tandem-dr.rules.yml'], dir);
      assert.equal(checked.code, 0, checked.output);
      assert.match(checked.output, /SUCCESS: 3 rules found/);
      const tested = await promtool(['test', 'rules', 'tests.yml'], dir);
      assert.equal(tested.code, 0, tested.output);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
