// Commands for SLOs and DORA metrics: slo rules (a Prometheus rule file), slo status (error budgets
// from the server's own evaluation), dora (delivery performance of a repository).
import { loadConfig } from '../config/index.js';
import { sloRuleFile } from '../monitor/rules.js';
import { allSlos } from '../monitor/slo.js';

export async function sloRules(opts: { config?: string; builtin?: boolean; runbookBase?: string }) {
  const config = loadConfig({ config: opts.config });
  process.stdout.write(sloRuleFile(allSlos(config.slos, { builtin: opts.builtin }), { runbookBase: opts.runbookBase }));
}
