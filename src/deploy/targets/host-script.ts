/**
 * The per-host operations of the `local`, `ssh` and `script` targets, written once as a POSIX shell
 * script: it runs through `sh -c` on the agent's host (local, script) or on a remote host through
 * `ssh HOST sh -c …` (ssh), so every target shares one implementation and they differ only in how the
 * script is started. It is passed as an argument rather than on stdin (`sh -s`) because stdin carries
 * the release archive (upload) or the commands and their environment (activate, run), which keeps
 * secrets in the environment out of the remote process list.
 *
 * Layout of a deploy dir:   releases/<id>/   one complete release each (never half-copied)
 *                           current -> releases/<id>   (and any other link a strategy names)
 *                           .tandem/lock      flock(1): one mutating operation at a time
 *                           .tandem/fence     the highest fencing token seen
 *
 * Protocol: lines on stdout are progress; `tandem-result: X` lines are return values; the last
 * `tandem-target: MESSAGE` line on stderr explains a failure; exit 75 is a stale fencing token.
 */
export const STALE_TOKEN_EXIT = 75;

// In this template literal `\\n` is the shell's `\n` and `\${` the shell's `${`.
export const HOST_SCRIPT = `
set -u
tt_op=$1
tt_dir=$2
shift 2
tt_state="$tt_dir/.tandem"
tt_env=''
tt_stop=''
tt_start=''
tt_restart=''
tt_reload=''
tt_cmd=''
tt_cwd=''
tt_label=''

say() { printf '%s\\n' "$*"; }
result() { printf 'tandem-result: %s\\n' "$*"; }
fail() { printf 'tandem-target: %s\\n' "$*" >&2; exit 1; }

number() {
  case $2 in
    ''|*[!0-9]*) fail "$1 must be a non-negative integer, got '$2'" ;;
  esac
}

link_name() {
  case $1 in
    ''|.*|*/*|releases) fail "invalid link name '$1'" ;;
  esac
}

# The declarations (tt_env, tt_cmd, ...) come from the agent, quoted by it, on stdin.
read_declarations() {
  tt_decl=$(cat) || fail 'cannot read the declarations on stdin'
  eval "$tt_decl"
}

prepare() {
  mkdir -p "$tt_state" || fail "cannot create $tt_state"
}

# Held until the script exits; user commands run with fd 9 closed, or a daemon they start would hold
# the lock forever.
lock() {
  command -v flock >/dev/null 2>&1 || fail 'flock (util-linux) is not installed on this host'
  exec 9>"$tt_state/lock" || fail "cannot open $tt_state/lock"
  flock -w 600 9 || fail "another deploy has held the lock on $tt_dir for 10 minutes"
}

# Check-and-record under the lock, so an older token can never act after a newer one was seen.
fence() {
  tt_seen=0
  if [ -f "$tt_state/fence" ]; then
    tt_seen=$(cat "$tt_state/fence") || fail "cannot read $tt_state/fence"
  fi
  case $tt_seen in
    ''|*[!0-9]*) fail "$tt_state/fence is corrupt: '$tt_seen'" ;;
  esac
  if [ "$1" -lt "$tt_seen" ]; then
    printf 'tandem-target: stale fencing token %s refused: %s has already seen token %s\\n' "$1" "$tt_dir" "$tt_seen" >&2
    exit ${STALE_TOKEN_EXIT}
  fi
  if [ "$1" -gt "$tt_seen" ]; then
    { printf '%s\\n' "$1" >"$tt_state/fence.tmp" && mv -f "$tt_state/fence.tmp" "$tt_state/fence"; } ||
      fail "cannot record fencing token $1 in $tt_state/fence"
  fi
}

# The release id a link points at, or nothing.
link_target() {
  tt_t=$(readlink "$tt_dir/$1" 2>/dev/null) || return 0
  case $tt_t in
    releases/*) printf '%s\\n' "\${tt_t#releases/}" ;;
  esac
}

# rename(2) of a fresh symlink over the old one: readers see the old or the new release, never none.
swap_link() {
  tt_tmp="$tt_state/link.$$"
  { ln -sfn "releases/$2" "$tt_tmp" && mv -fT "$tt_tmp" "$tt_dir/$1"; } ||
    { rm -f "$tt_tmp"; fail "cannot point $tt_dir/$1 at releases/$2"; }
  say "$1 -> releases/$2"
}

run_user() {
  say "$1: $2"
  (
    eval "$tt_env" && export TANDEM_RELEASE_DIR="$3" && cd "$3" && exec sh -c "$2"
  ) </dev/null 9>&-
  tt_rc=$?
  [ "$tt_rc" -eq 0 ] || fail "$1 ($2) exited with code $tt_rc"
}

case $tt_op in
  upload)
    # ARGS: id token size; stdin: a tar archive of size bytes.
    number 'release id' "$1"; number 'fencing token' "$2"; number size "$3"
    prepare; lock; fence "$2"
    tt_rel="$tt_dir/releases/$1"
    if [ -d "$tt_rel" ]; then
      say "release $1 is already here"
      exit 0
    fi
    mkdir -p "$tt_dir/releases" || fail "cannot create $tt_dir/releases"
    tt_tmp="$tt_dir/releases/.tmp-$1"
    # Left by an upload that was killed halfway; the lock makes them ours to remove.
    rm -rf "$tt_tmp" "$tt_tmp.tar"
    mkdir "$tt_tmp" || fail "cannot create $tt_tmp"
    cat >"$tt_tmp.tar" || { rm -rf "$tt_tmp" "$tt_tmp.tar"; fail 'cannot receive the release archive'; }
    tt_got=$(($(wc -c <"$tt_tmp.tar")))
    if [ "$tt_got" -ne "$3" ]; then
      rm -rf "$tt_tmp" "$tt_tmp.tar"
      fail "received $tt_got of $3 bytes of release $1"
    fi
    tar -x -p -o -f "$tt_tmp.tar" -C "$tt_tmp" || { rm -rf "$tt_tmp" "$tt_tmp.tar"; fail "cannot unpack release $1"; }
    rm -f "$tt_tmp.tar"
    mv "$tt_tmp" "$tt_rel" || fail "cannot move release $1 into place"
    say "uploaded release $1 ($3 bytes) to $tt_rel"
    ;;
  activate)
    # ARGS: id token link; stdin: tt_env and the service commands.
    number 'release id' "$1"; number 'fencing token' "$2"; link_name "$3"
    read_declarations
    prepare; lock; fence "$2"
    tt_rel="$tt_dir/releases/$1"
    [ -d "$tt_rel" ] || fail "release $1 is not in $tt_dir/releases (upload it first)"
    tt_old=$(link_target "$3")
    # stop belongs to the outgoing release, which knows how to stop itself.
    if [ -n "$tt_stop" ] && [ -n "$tt_old" ] && [ -d "$tt_dir/releases/$tt_old" ]; then
      run_user 'service stop' "$tt_stop" "$tt_dir/releases/$tt_old"
    fi
    swap_link "$3" "$1"
    [ -z "$tt_start" ] || run_user 'service start' "$tt_start" "$tt_rel"
    [ -z "$tt_restart" ] || run_user 'service restart' "$tt_restart" "$tt_rel"
    [ -z "$tt_reload" ] || run_user 'service reload' "$tt_reload" "$tt_rel"
    ;;
  run)
    # ARGS: token [link id]; stdin: tt_env, tt_label, tt_cmd, tt_cwd. Records link -> id on success.
    number 'fencing token' "$1"
    read_declarations
    prepare; lock; fence "$1"
    run_user "$tt_label" "$tt_cmd" "$tt_cwd"
    if [ $# -ge 3 ]; then
      link_name "$2"; number 'release id' "$3"
      swap_link "$2" "$3"
    fi
    ;;
  fence)
    number 'fencing token' "$1"
    prepare; lock; fence "$1"
    ;;
  current)
    link_name "$1"
    tt_id=$(link_target "$1")
    [ -z "$tt_id" ] || result "$tt_id"
    ;;
  has)
    number 'release id' "$1"
    if [ -d "$tt_dir/releases/$1" ]; then result yes; else result no; fi
    ;;
  prune)
    # ARGS: keep token. Keeps the newest <keep> releases and every linked one.
    number keep "$1"; number 'fencing token' "$2"
    prepare; lock; fence "$2"
    [ -d "$tt_dir/releases" ] || exit 0
    rm -rf "$tt_dir/releases"/.tmp-*
    tt_linked=' '
    for tt_f in "$tt_dir"/*; do
      [ -L "$tt_f" ] || continue
      tt_id=$(link_target "$(basename "$tt_f")")
      [ -z "$tt_id" ] || tt_linked="$tt_linked$tt_id "
    done
    tt_n=0
    for tt_id in $(ls "$tt_dir/releases" | grep -E '^[0-9]+$' | sort -rn); do
      tt_n=$((tt_n + 1))
      [ "$tt_n" -gt "$1" ] || continue
      case $tt_linked in
        *" $tt_id "*) continue ;;
      esac
      rm -rf "$tt_dir/releases/$tt_id" || fail "cannot remove $tt_dir/releases/$tt_id"
      say "removed release $tt_id"
      result "$tt_id"
    done
    ;;
  *)
    fail "unknown operation '$tt_op'"
    ;;
esac
`;
