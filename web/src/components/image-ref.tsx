// A container image pinned by digest, as releases record it: the repository and the digest's first
// 12 hex digits, the whole reference on hover and for copying.
export function ImageRef({ image }: { image: string }) {
  const at = image.lastIndexOf('@sha256:');
  const shown = at === -1 ? image : `${image.slice(0, at)}@sha256:${image.slice(at + 8, at + 20)}`;
  return (
    <code className="image-ref" title={image}>
      {shown}
    </code>
  );
}
