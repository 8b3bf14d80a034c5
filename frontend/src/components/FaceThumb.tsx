/** A face crop, lazy-loaded, small (crops are 112 px). */
export function FaceImage({ face, size = 96, alt }: { face: { id: number; crop_url: string | null; identity_name?: string | null }; size?: number; alt?: string }) {
  if (!face.crop_url) return <div className="face-missing" style={{ width: size, height: size }} aria-label="no image" />;
  return (
    <img
      src={face.crop_url}
      width={size}
      height={size}
      loading="lazy"
      decoding="async"
      alt={alt ?? `face ${face.id}${face.identity_name ? ` labelled ${face.identity_name}` : ""}`}
    />
  );
}
