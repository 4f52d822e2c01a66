import { ContainerDeployTarget } from './container.js';
import { localTransport } from './host-ops.js';
import { KubernetesDeployTarget } from './kubernetes.js';
import { ReleaseDirTarget } from './release-dir.js';
import { ScriptDeployTarget } from './script.js';
import { sshHosts } from './ssh.js';
import type { DeployTarget, TargetOptions, TargetSpec } from './types.js';

export { parseServiceSpec, parseTargetSpec } from './spec.js';
export * from './types.js';

/** The target a validated `deploy.target` describes. */
export function createTarget(spec: TargetSpec, opts: TargetOptions): DeployTarget {
  const env = opts.env ?? process.env;
  switch (spec.kind) {
    case 'local':
      return new ReleaseDirTarget('local', [localTransport('local', spec.dir, env)], opts.workDir, opts.service);
    case 'ssh': {
      const hosts = sshHosts(spec, opts.workDir, env, opts.cwd ?? process.cwd());
      return new ReleaseDirTarget('ssh', hosts.transports, opts.workDir, opts.service, hosts.close);
    }
    case 'container': {
      const remote = spec.hosts.filter((h) => h.host !== 'local');
      const ssh = sshHosts({ ...spec, kind: 'ssh', hosts: remote }, opts.workDir, env, opts.cwd ?? process.cwd());
      const entries = spec.hosts.map((h) => ({
        spec: h,
        transport: h.host === 'local' ? localTransport(h.name, h.dir, env) : ssh.transports[remote.indexOf(h)],
      }));
      return new ContainerDeployTarget(spec, entries, ssh.close);
    }
    case 'script':
      if (opts.service && Object.keys(opts.service).length > 0) {
        throw new Error('deploy.service: a script target runs its own commands; service commands apply to local and ssh targets');
      }
      return new ScriptDeployTarget(spec, opts.workDir, env);
    case 'kubernetes':
      if (opts.service && Object.keys(opts.service).length > 0) {
        throw new Error('deploy.service: a kubernetes target runs no service commands; its manifests say what runs');
      }
      return new KubernetesDeployTarget(spec, { ...opts, env });
  }
}
