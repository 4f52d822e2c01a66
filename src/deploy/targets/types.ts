/** One release as a target sees it. */
export interface ReleaseInput {
  /** Release id from the server: the directory name releases/<id>. */
  id: number;
  /** Directory on the agent with the release's files. */
  sourceDir: string;
  /** The deploy job's claim token: a target refuses a token lower than the highest it has seen. */
  fencingToken: number;
  /** The image pinned by digest (`registry/name@sha256:...`); null for a release of files only. */
  image: string | null;
  /** TANDEM_RELEASE_ID, TANDEM_RELEASE_VERSION, TANDEM_ENVIRONMENT, ...: given to service and script commands. */
  env: Record<string, string>;
}

/** What a strategy batches over: a host of an ssh target, or the one host of a local or script target. */
export interface TargetHost {
  /** Shown in logs and errors, e.g. "127.0.0.1:2201". */
  readonly name: string;
}

/** Receives progress lines, each prefixed with its host. */
export type TargetLog = (line: string) => void;

/**
 * Commands run around an activation (local and ssh targets), each with the release's env and
 * TANDEM_RELEASE_DIR set to the release dir it runs in.
 */
export interface ServiceSpec {
  /** Runs in the outgoing release before the link moves. */
  stop?: string;
  /** These run in the new release after the link moved, in this order, each when given. */
  start?: string;
  restart?: string;
  reload?: string;
}

export interface LocalTargetSpec {
  kind: 'local';
  /** Absolute path of the deploy dir (releases/, current) on the agent's host. */
  dir: string;
  /** Releases kept on disk by prune (linked ones are always kept). */
  keep: number;
}

export interface SshHostSpec {
  host: string;
  port: number;
  user?: string;
  /** Absolute path of the deploy dir on this host. */
  dir: string;
  /** Unique within the target: "host:port", plus ":dir" when two entries share host and port. */
  name: string;
}

export interface SshTargetSpec {
  kind: 'ssh';
  hosts: SshHostSpec[];
  /** A known_hosts file path, or the known_hosts text itself; without it OpenSSH's default files. */
  knownHosts?: string;
  identityFile?: string;
  keep: number;
  /** At most this many hosts at once (a strategy's batch size cap). */
  parallel: number;
}

/** User commands (helm, kubectl, ansible, terraform...) that do the deployment themselves. */
export interface ScriptTargetSpec {
  kind: 'script';
  deploy: string;
  verify?: string;
  rollback?: string;
}

/** Manifests applied to one namespace of a cluster with kubectl (docs/pipeline-reference.md#kubernetes-target). */
export interface KubernetesTargetSpec {
  kind: 'kubernetes';
  /** Path of a kubeconfig (a file variable); without it the job's KUBECONFIG variable. */
  kubeconfig?: string;
  context?: string;
  namespace: string;
  /** Deadline of one rollout wait: every Deployment of an apply must be available within it. */
  timeoutMs: number;
  /** A chart's release name (`.Release.Name`) for `helm template`; default the namespace. */
  helmRelease?: string;
}

/** A host of a container target: the agent's own podman (`local`), or podman on an ssh host. */
export interface ContainerHostSpec {
  /** 'local', or the ssh host. */
  host: string;
  port: number;
  user?: string;
  /** Absolute path of the state dir on this host: the fence, the lock, blue-green's traffic record. */
  dir: string;
  /** The address checks reach the host at ($TANDEM_HOST_ADDRESS): the ssh host, or 127.0.0.1 for local. */
  address: string;
  /** The container name prefix on this host (several entries may share one machine). */
  container: string;
  /** Unique within the target: "local", "host:port", plus ":container" when entries share a machine. */
  name: string;
}

export interface ContainerHealthSpec {
  /** Run in the container by `podman healthcheck run`; exit 0 is healthy. */
  cmd: string;
  intervalMs: number;
  /** Runs of the check before the container counts as unhealthy. */
  retries: number;
  timeoutMs: number;
}

/** Runs the release's image with podman on each host; see docs/pipeline-reference.md#container-target. */
export interface ContainerTargetSpec {
  kind: 'container';
  hosts: ContainerHostSpec[];
  knownHosts?: string;
  identityFile?: string;
  /** `[ip:]host_port:container_port[/proto]`; `$VAR`s (release and host variables) are expanded on activation. */
  ports: string[];
  /** The container's environment; values expanded like ports. */
  env: Record<string, string>;
  /** `host_path:container_path[:options]` or `volume:container_path[:options]`. */
  volumes: string[];
  /** Arguments after the image; null: the image's own command. */
  command: string[] | null;
  health: ContainerHealthSpec | null;
  pull: 'always' | 'if-not-present' | 'never';
  /** How long `podman stop` waits after SIGTERM before it kills. */
  stopTimeoutS: number;
  /** Flags before every podman command (`--runtime runc`). */
  engineArgs: string[];
  /** Flags for `podman create`; a `--ulimit` here wins over the fitted ones. */
  runArgs: string[];
  /** Stopped containers of older releases kept per host, for rollbacks. */
  keep: number;
  parallel: number;
}

export type TargetSpec = LocalTargetSpec | SshTargetSpec | ScriptTargetSpec | ContainerTargetSpec | KubernetesTargetSpec;

interface TargetBase {
  readonly hosts: readonly TargetHost[];
  /** Stages the release's files on the host without switching to them; a release already there is kept. */
  upload(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void>;
  /**
   * Atomically points `link` (default 'current') at the release, running the service commands
   * around the swap (local, ssh) or the `deploy` command (script). When a command after the swap
   * fails the link stays on the new release: rolling back is the caller's decision.
   */
  activate(host: TargetHost, release: ReleaseInput, log: TargetLog, link?: string): Promise<void>;
  /** The release id `link` (default 'current') points at, or null. */
  current(host: TargetHost, link?: string): Promise<number | null>;
  /** Whether the release's files are complete on the host (a rollback then needs no upload). */
  has(host: TargetHost, releaseId: number): Promise<boolean>;
  /** Deletes releases beyond the newest `keep`, never a linked one; returns the deleted ids. */
  prune(host: TargetHost, keep: number, fencingToken: number, log?: TargetLog): Promise<number[]>;
  /** Ends connections kept open between operations (ssh); the target stays usable. Call when the deploy is over. */
  close(): Promise<void>;
}

export interface FileTarget extends TargetBase {
  readonly kind: 'local' | 'ssh';
  /**
   * Atomically points `link` at a release already on the host, running no service command: a record
   * such as blue-green's `current` after traffic moved to the slot whose service is already running.
   */
  relink(host: TargetHost, release: ReleaseInput, link: string, log: TargetLog): Promise<void>;
}

export interface ScriptTarget extends TargetBase {
  readonly kind: 'script';
  /**
   * Runs the user's `verify` or `rollback` command for the release (for rollback: the release to go
   * back to, which then becomes `current`). Resolves false when that command is not configured.
   */
  runScript(kind: 'verify' | 'rollback', release: ReleaseInput, log: TargetLog): Promise<boolean>;
}

/**
 * A namespace of a cluster: upload renders the release's manifests (image substituted), activate
 * applies them and waits for their rollout; `current` and the slots are recorded, fenced, in the
 * namespace's tandem-fence ConfigMap.
 */
export interface KubernetesTarget extends TargetBase {
  readonly kind: 'kubernetes';
  /** Records `link` as pointing at the release, applying nothing. */
  relink(host: TargetHost, release: ReleaseInput, link: string, log: TargetLog): Promise<void>;
  /** Blue-green: points the release's Services at the Deployments of `slot`. */
  switchTraffic(host: TargetHost, release: ReleaseInput, slot: string, log: TargetLog): Promise<void>;
  /** Canary: runs `<name>-canary` copies of the release's Deployments with `percent` of their replicas. */
  startCanary(host: TargetHost, release: ReleaseInput, percent: number, log: TargetLog): Promise<void>;
  /** Deletes the canary Deployments of the release. */
  stopCanary(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void>;
}

/**
 * Containers of the release's image: `activate` stops the container serving at `link` ('current',
 * or a blue-green slot) and starts the release's, keeping the old one for a rollback.
 */
export interface ContainerTarget extends TargetBase {
  readonly kind: 'container';
  /** Records that traffic is on the release (blue-green's `current`); no container changes. */
  relink(host: TargetHost, release: ReleaseInput, link: string, log: TargetLog): Promise<void>;
}

/** A target whose hosts keep two slots that blue-green switches between. */
export type SlotTarget = FileTarget | ContainerTarget | KubernetesTarget;

export type DeployTarget = FileTarget | ScriptTarget | ContainerTarget | KubernetesTarget;

export interface TargetOptions {
  /**
   * A directory on the agent the target owns: temp files (the release archive, a known_hosts copy)
   * and, for the script target, its fence and `current` record, so keep it per environment.
   */
  workDir: string;
  /** Environment of the processes started on the agent (sh, ssh, script commands); default process.env. */
  env?: Record<string, string | undefined>;
  /** Relative identity_file and known_hosts paths resolve here (the job workspace); default the process's cwd. */
  cwd?: string;
  service?: ServiceSpec;
}

/** A failed operation on one host; the message names the host, the command and its exit code. */
export class TargetError extends Error {
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(message);
    this.name = 'TargetError';
  }
}

/** The host has already seen a newer fencing token: this deploy's claim is outdated. */
export class StaleFencingTokenError extends TargetError {
  constructor(
    host: string,
    readonly token: number,
    readonly seen: number,
    message: string,
  ) {
    super(host, message);
    this.name = 'StaleFencingTokenError';
  }
}
