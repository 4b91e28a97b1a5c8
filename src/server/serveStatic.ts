/**
 * A static file handler (what `python -m http.server` is for, done properly): validators
 * (ETag, Last-Modified), conditional requests (RFC 9110 §13), single byte ranges (§14), HEAD,
 * directory listings, media types, and no way out of the root.
 */
import { createReadStream } from 'node:fs';
import { stat, realpath, readdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { formatHttpDate, parseHttpDate } from '../wire/httpDate.ts';
import { ifMatchPasses, ifNoneMatchPasses, parseEntityTag, strongMatch } from '../wire/etag.ts';
import { resolveByteRanges } from '../wire/byteRanges.ts';
import { mimeType } from './mime.ts';
import type { StreamingHandler } from './options.ts';
import type { ServerRequest } from './serverRequest.ts';
import type { ResponseWriter } from './responseWriter.ts';

/** Options of `serveStatic`. */
export interface StaticOptions {
  /** Serve an HTML listing for directories without an index file. Default true. */
  listing?: boolean;
  /** Index file names tried in a directory. Default `['index.html']`. */
  index?: string[];
  /** Serve files and directories whose name starts with a dot. Default false. */
  dotfiles?: boolean;
  /** `Cache-Control` value sent with files. Default `no-cache` (always revalidate). */
  cacheControl?: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function etagOf(st: Stats): string {
  return `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

async function sendText(res: ResponseWriter, status: number, text: string, extra: Record<string, string> = {}): Promise<void> {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...extra });
  await res.end(text);
}

/** Returns a streaming handler serving the files under `root`. */
export function serveStatic(root: string, options: StaticOptions = {}): StreamingHandler {
  const absRoot = path.resolve(root);
  const index = options.index ?? ['index.html'];
  const listing = options.listing ?? true;
  const dotfiles = options.dotfiles ?? false;
  const cacheControl = options.cacheControl ?? 'no-cache';
  let realRoot: string | null = null;

  return async (req: ServerRequest, res: ResponseWriter): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      await sendText(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    realRoot ??= await realpath(absRoot);
    const rawPath = req.path;
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      await sendText(res, 400, 'bad path encoding\n');
      return;
    }
    const segments = decoded.split('/');
    // Refuse traversal outright rather than normalising it away: `..`, NUL and backslashes
    // (a path separator on some systems) never name a file under the root.
    if (decoded.includes('\0') || decoded.includes('\\') || segments.some((s) => s === '..')) {
      await sendText(res, 403, 'forbidden\n');
      return;
    }
    if (!dotfiles && segments.some((s) => s.startsWith('.') && s !== '.' && s !== '')) {
      await sendText(res, 404, 'not found\n');
      return;
    }
    const target = path.join(absRoot, ...segments);
    let file: string;
    let st: Stats;
    try {
      file = await realpath(target);
      // A symlink inside the root may point outside it.
      if (file !== realRoot && !file.startsWith(realRoot + path.sep)) {
        await sendText(res, 403, 'forbidden\n');
        return;
      }
      st = await stat(file);
    } catch {
      await sendText(res, 404, 'not found\n');
      return;
    }
    if (st.isDirectory()) {
      if (!rawPath.endsWith('/')) {
        const q = req.pathAndQuery.indexOf('?');
        const location = `${rawPath}/${q === -1 ? '' : req.pathAndQuery.slice(q)}`;
        await sendText(res, 301, `moved to ${location}\n`, { Location: location });
        return;
      }
      for (const name of index) {
        try {
          const candidate = path.join(file, name);
          const ist = await stat(candidate);
          if (ist.isFile()) {
            await sendFile(req, res, candidate, ist, cacheControl);
            return;
          }
        } catch {
          // try the next index name
        }
      }
      if (!listing) {
        await sendText(res, 404, 'not found\n');
        return;
      }
      await sendListing(res, file, decoded, dotfiles);
      return;
    }
    if (!st.isFile()) {
      await sendText(res, 404, 'not found\n');
      return;
    }
    await sendFile(req, res, file, st, cacheControl);
  };
}

async function sendListing(res: ResponseWriter, dir: string, shownPath: string, dotfiles: boolean): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => dotfiles || !e.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name));
  const items = entries.map((e) => {
    const name = e.isDirectory() ? `${e.name}/` : e.name;
    return `<li><a href="${escapeHtml(encodeURIComponent(e.name) + (e.isDirectory() ? '/' : ''))}">${escapeHtml(name)}</a></li>`;
  });
  const title = `Index of ${escapeHtml(shownPath)}`;
  const html = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1>\n<ul>\n${shownPath === '/' ? '' : '<li><a href="../">../</a></li>\n'}${items.join('\n')}\n</ul></body></html>\n`;
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' });
  await res.end(html);
}

async function sendFile(req: ServerRequest, res: ResponseWriter, file: string, st: Stats, cacheControl: string): Promise<void> {
  const etag = etagOf(st);
  const tag = parseEntityTag(etag);
  const mtime = Math.floor(st.mtimeMs / 1000) * 1000;
  const lastModified = formatHttpDate(mtime);
  const validators = { ETag: etag, 'Last-Modified': lastModified, 'Cache-Control': cacheControl };

  // RFC 9110 §13.2.2: preconditions in this order.
  const ifMatch = req.headers.get('if-match');
  if (ifMatch !== undefined) {
    // Strong comparison for If-Match: our weak tags never match strongly, except `*`.
    if (!ifMatchPasses(ifMatch, tag)) {
      await sendText(res, 412, 'precondition failed\n', validators);
      return;
    }
  } else {
    // §13.1.4: an invalid date is ignored.
    const ius = parseHttpDate(req.headers.get('if-unmodified-since'));
    if (ius !== undefined && mtime > ius) {
      await sendText(res, 412, 'precondition failed\n', validators);
      return;
    }
  }
  const inm = req.headers.get('if-none-match');
  if (inm !== undefined) {
    if (!ifNoneMatchPasses(inm, tag)) {
      res.writeHead(304, validators);
      await res.end();
      return;
    }
  } else {
    // §13.1.3: an invalid date (`2024`, `0`) is ignored, never read as some time.
    const ims = parseHttpDate(req.headers.get('if-modified-since'));
    if (ims !== undefined && mtime <= ims) {
      res.writeHead(304, validators);
      await res.end();
      return;
    }
  }

  const size = st.size;
  let start = 0;
  let end = size - 1;
  let status = 200;
  const headers: Record<string, string> = { 'Content-Type': mimeType(file), 'Accept-Ranges': 'bytes', ...validators };
  const range = req.headers.get('range');
  if (range !== undefined && req.method === 'GET') {
    const ifRange = req.headers.get('if-range');
    // If-Range: the range applies only to the representation the client already has part of.
    // §13.1.5: an entity-tag must match strongly (ours are weak, so never), a date exactly.
    const rangeTag = ifRange === undefined ? undefined : parseEntityTag(ifRange);
    const rangeApplies = ifRange === undefined
      || (rangeTag !== undefined ? tag !== undefined && strongMatch(rangeTag, tag) : parseHttpDate(ifRange) === mtime);
    if (rangeApplies) {
      const ranges = resolveByteRanges(range, size);
      if (ranges !== null && ranges.length === 0) {
        await sendText(res, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${size}` });
        return;
      }
      // Several ranges are answered with the whole file, as RFC 9110 §14.2 allows a server to do:
      // serveStatic does not build multipart/byteranges bodies.
      const only = ranges?.length === 1 ? ranges[0] : undefined;
      if (only !== undefined) {
        start = only.first;
        end = only.last;
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      }
    }
  }
  const length = size === 0 ? 0 : end - start + 1;
  headers['Content-Length'] = String(length);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || length === 0) {
    await res.end();
    return;
  }
  const stream = createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream) {
      if (req.aborted) break;
      // Backpressure: the next read waits until the socket drained.
      await res.write(chunk as Buffer);
    }
  } finally {
    stream.destroy();
  }
  await res.end();
}
