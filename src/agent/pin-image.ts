// A release runs an image pinned by digest, never a tag that can move under it (a rollback must
// start exactly what ran before).
const PINNED = /@sha256:[0-9a-f]{64}$/;

/** The image pinned by digest; a tag is refused with what to write instead. */
export async function pinImage(ref: string): Promise<string> {
  if (PINNED.test(ref)) return ref;
  throw new Error(`${ref} is not pinned: give the image by digest (name@sha256:<64 hex digits>)`);
}
