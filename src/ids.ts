import { randomBytes, randomUUID } from "node:crypto";

let lastMs = 0;
let counter = 0;

// Random bytes drawn 4 kB at a time: a randomBytes call per id (a syscall-sized fill each
// time) would be 3.5% of the server's CPU in the batched benchmark (scenario 1).
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;
function randomSlice(n: number): Buffer {
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  used += n;
  return pool.subarray(used - n, used);
}

/**
 * UUIDv7 (RFC 9562): 48 bits of Unix ms, then a 12-bit counter that keeps ids made in
 * the same millisecond by this process in order, then random bits. Ids therefore sort
 * by creation time, which makes them usable as FIFO tie-breakers and page cursors.
 */
export function uuidv7(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = randomSlice(1)[0]! & 0x7f; // random start leaves room to count up
  } else {
    counter++;
    if (counter > 0xfff) {
      lastMs++; // borrow the next millisecond rather than lose the order
      counter = 0;
    }
  }
  const ms = lastMs;
  const b = randomSlice(16);
  b[0] = Math.floor(ms / 2 ** 40) & 0xff;
  b[1] = Math.floor(ms / 2 ** 32) & 0xff;
  b[2] = (ms >>> 24) & 0xff;
  b[3] = (ms >>> 16) & 0xff;
  b[4] = (ms >>> 8) & 0xff;
  b[5] = ms & 0xff;
  b[6] = 0x70 | ((counter >>> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const newToken = (): string => randomUUID();

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (s: string): boolean => UUID_RE.test(s);
