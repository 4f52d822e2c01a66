// The sandbox's seccomp filter, compiled here as classic BPF so no libseccomp is needed: bwrap
// `--seccomp FD` reads exactly this (an array of struct sock_filter) and installs it.

/**
 * System calls a CI job never needs and an escape often does: mounting, kernel modules and kexec,
 * keyrings (not namespaced), eBPF and perf, userfaultfd and io_uring (frequent exploit primitives),
 * file handles (the "shocker" escape), joining other namespaces, the kernel log. Dropped
 * capabilities already refuse most of them; the filter refuses them before the kernel looks further.
 */
const DENIED = [
  'mount',
  'umount2',
  'pivot_root',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'swapon',
  'swapoff',
  'reboot',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'acct',
  'quotactl',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'open_by_handle_at',
  'name_to_handle_at',
  'setns',
  'syslog',
  'lookup_dcookie',
  'vhangup',
  'iopl',
  'ioperm',
  'uselib',
] as const;
type Denied = (typeof DENIED)[number];

interface Arch {
  /** AUDIT_ARCH_* of the native system call ABI. */
  audit: number;
  numbers: Partial<Record<Denied, number>>;
  /** Numbers at or above this belong to another ABI on the same arch (x86_64's x32). */
  foreignFrom?: number;
}

// From <asm/unistd_64.h> and <asm-generic/unistd.h>; the new mount API has one number everywhere.
const NEW_MOUNT_API = { open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442 };
const IO_URING = { io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427 };
const ARCHES: Partial<Record<NodeJS.Architecture, Arch>> = {
  x64: {
    audit: 0xc000003e,
    foreignFrom: 0x40000000,
    numbers: {
      ...NEW_MOUNT_API,
      ...IO_URING,
      mount: 165,
      umount2: 166,
      pivot_root: 155,
      swapon: 167,
      swapoff: 168,
      reboot: 169,
      init_module: 175,
      finit_module: 313,
      delete_module: 176,
      kexec_load: 246,
      kexec_file_load: 320,
      acct: 163,
      quotactl: 179,
      keyctl: 250,
      add_key: 248,
      request_key: 249,
      bpf: 321,
      perf_event_open: 298,
      userfaultfd: 323,
      open_by_handle_at: 304,
      name_to_handle_at: 303,
      setns: 308,
      syslog: 103,
      lookup_dcookie: 212,
      vhangup: 153,
      iopl: 172,
      ioperm: 173,
      uselib: 134,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    numbers: {
      ...NEW_MOUNT_API,
      ...IO_URING,
      mount: 40,
      umount2: 39,
      pivot_root: 41,
      swapon: 224,
      swapoff: 225,
      reboot: 142,
      init_module: 105,
      finit_module: 273,
      delete_module: 106,
      kexec_load: 104,
      kexec_file_load: 294,
      acct: 89,
      quotactl: 60,
      keyctl: 219,
      add_key: 217,
      request_key: 218,
      bpf: 280,
      perf_event_open: 241,
      userfaultfd: 282,
      open_by_handle_at: 265,
      name_to_handle_at: 264,
      setns: 268,
      syslog: 116,
      lookup_dcookie: 18,
      vhangup: 58,
    },
  },
};

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_EPERM = 0x00050000 | 1;
/** offsetof(struct seccomp_data, nr) and (…, arch). */
const NR_OFFSET = 0;
const ARCH_OFFSET = 4;

/**
 * The filter for this machine's architecture, or null where no table is known (the sandbox then
 * relies on dropped capabilities and the user namespace alone). System calls of another ABI
 * (32-bit x86 on x86_64, x32) are refused outright: their numbers differ and would slip through.
 */
export function seccompProgram(arch: NodeJS.Architecture = process.arch): Buffer | null {
  const table = ARCHES[arch];
  if (!table) return null;
  // A name missing from an arch's table does not exist there (iopl on arm64).
  const numbers = DENIED.flatMap((name) => table.numbers[name] ?? []);
  // Jump offsets count instructions after the jump; every refusal lands on the last instruction.
  const checks: [code: number, k: number][] = [
    ...(table.foreignFrom !== undefined ? [[JGE_K, table.foreignFrom] as [number, number]] : []),
    ...numbers.map((nr): [number, number] => [JEQ_K, nr]),
  ];
  const program: [code: number, jt: number, jf: number, k: number][] = [
    [LD_W_ABS, 0, 0, ARCH_OFFSET],
    [JEQ_K, 1, 0, table.audit],
    [RET_K, 0, 0, RET_EPERM],
    [LD_W_ABS, 0, 0, NR_OFFSET],
    ...checks.map(([code, k], i): [number, number, number, number] => [code, checks.length - i, 0, k]),
    [RET_K, 0, 0, RET_ALLOW],
    [RET_K, 0, 0, RET_EPERM],
  ];
  const buffer = Buffer.alloc(program.length * 8);
  program.forEach(([code, jt, jf, k], i) => {
    buffer.writeUInt16LE(code, i * 8);
    buffer.writeUInt8(jt, i * 8 + 2);
    buffer.writeUInt8(jf, i * 8 + 3);
    buffer.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buffer;
}
