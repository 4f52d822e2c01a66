export interface LogChunk {
  /** 0, 1, 2, ...: the server stores each seq once, so a chunk can be re-sent safely. */
  seq: number;
  data: string;
}

export interface LogChunkerOptions {
  /** Receives each chunk in order. */
  onChunk(chunk: LogChunk): void;
  /** Longest time text waits before it is sent; default 200 ms. */
  intervalMs?: number;
  /** Largest chunk in UTF-8 bytes; reaching it sends at once. Default 64 KiB. */
  maxBytes?: number;
}

/** Cuts UTF-8 bytes at or before `max` without splitting a character. */
function cutPoint(bytes: Buffer, max: number): number {
  let cut = Math.min(max, bytes.length);
  // Continuation bytes are 10xxxxxx: step back to the start of the character.
  while (cut > 0 && cut < bytes.length && (bytes[cut] & 0xc0) === 0x80) cut--;
  return cut;
}

/** Groups output text into sequence-numbered chunks, sent every interval or when one is full. */
export class LogChunker {
  private readonly onChunk: (chunk: LogChunk) => void;
  private readonly intervalMs: number;
  private readonly maxBytes: number;
  private pending = '';
  private pendingBytes = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: LogChunkerOptions) {
    this.onChunk = options.onChunk;
    this.intervalMs = options.intervalMs ?? 200;
    this.maxBytes = options.maxBytes ?? 64 * 1024;
    if (!(this.maxBytes >= 4)) throw new Error(`LogChunker maxBytes must be at least 4 (one character), got ${this.maxBytes}`);
  }

  /** The seq the next chunk will carry (= how many chunks were sent). */
  get nextSeq(): number {
    return this.seq;
  }

  push(text: string): void {
    if (this.closed) throw new Error('LogChunker.push after close()');
    if (text === '') return;
    this.pending += text;
    this.pendingBytes += Buffer.byteLength(text, 'utf8');
    if (this.pendingBytes >= this.maxBytes) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Sends everything pending now, split into chunks of at most maxBytes. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '') return;
    let bytes = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    this.pendingBytes = 0;
    while (bytes.length > 0) {
      const cut = cutPoint(bytes, this.maxBytes);
      this.onChunk({ seq: this.seq++, data: bytes.subarray(0, cut).toString('utf8') });
      bytes = bytes.subarray(cut);
    }
  }

  /** Sends the rest; no push is accepted afterwards. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
