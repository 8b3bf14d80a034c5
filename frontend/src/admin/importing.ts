/** Turning dropped files and folders into upload batches (pure, unit-tested). */

export type FileKind = "photo" | "video" | "other";

const PHOTO_EXTENSIONS = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "heic"];
const VIDEO_EXTENSIONS = ["mp4", "mov", "m4v", "avi", "mkv", "webm", "mpg", "mpeg", "wmv"];

export function fileKind(file: { name: string; type?: string }): FileKind {
  const type = file.type ?? "";
  if (type.startsWith("image/")) return "photo";
  if (type.startsWith("video/")) return "video";
  const extension = file.name.toLowerCase().split(".").pop() ?? "";
  if (PHOTO_EXTENSIONS.includes(extension)) return "photo";
  if (VIDEO_EXTENSIONS.includes(extension)) return "video";
  return "other";
}

export interface PickedFile {
  file: File;
  /** Path inside the dropped folder ("Ada Lovelace/1.jpg"), or the bare name. */
  path: string;
}

/** The folder a file was in, when it came from a dropped folder: "Root/Ada/1.jpg" -> "Ada". */
export function parentFolder(path: string): string | null {
  const parts = path.split("/").filter(Boolean);
  return parts.length >= 2 ? parts[parts.length - 2] : null;
}

export interface Batch<T> {
  identity: string | null;
  items: T[];
  bytes: number;
}

/**
 * Group photos by identity hint (the one given, or each one's folder name when `byFolder`),
 * then cut each group into requests of at most `maxFiles` files and `maxBytes` bytes.
 */
export function photoBatches<T extends { path: string; size: number }>(
  photos: T[],
  { hint, byFolder, maxFiles = 25, maxBytes = 40 * 1024 * 1024 }: { hint: string | null; byFolder: boolean; maxFiles?: number; maxBytes?: number },
): Batch<T>[] {
  const groups = new Map<string | null, T[]>();
  for (const photo of photos) {
    const identity = (byFolder ? parentFolder(photo.path) : null) ?? hint;
    groups.set(identity, [...(groups.get(identity) ?? []), photo]);
  }
  const batches: Batch<T>[] = [];
  for (const [identity, items] of groups) {
    let current: Batch<T> = { identity, items: [], bytes: 0 };
    for (const item of items) {
      if (current.items.length && (current.items.length >= maxFiles || current.bytes + item.size > maxBytes)) {
        batches.push(current);
        current = { identity, items: [], bytes: 0 };
      }
      current.items.push(item);
      current.bytes += item.size;
    }
    if (current.items.length) batches.push(current);
  }
  return batches;
}

interface EntryLike {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath?: string;
}

/** Every file under the dropped items, walking folders (webkitGetAsEntry), with its relative path. */
export async function filesFromDrop(dataTransfer: DataTransfer): Promise<PickedFile[]> {
  const entries = [...dataTransfer.items]
    .map((item) => (typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null))
    .filter((entry): entry is FileSystemEntry => entry !== null);
  if (!entries.length) return [...dataTransfer.files].map((file) => ({ file, path: file.name }));
  const found: PickedFile[] = [];
  for (const entry of entries) await walk(entry, found);
  return found;
}

async function walk(entry: FileSystemEntry | EntryLike, found: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    found.push({ file, path: (entry.fullPath ?? entry.name).replace(/^\//, "") });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries answers in chunks (100 in Chromium) until it answers an empty list.
  for (;;) {
    const chunk = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!chunk.length) break;
    for (const child of chunk) await walk(child, found);
  }
}

/** A file picked through <input type=file webkitdirectory> keeps its folder in webkitRelativePath. */
export function filesFromInput(list: FileList | null): PickedFile[] {
  return [...(list ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}
