/**
 * The target of a check, parsed at the edge: an `http:` URL (host, port, the authority for
 * `Host`, the request-target) and the optional upload and download paths. The probes write these
 * verbatim into request lines, so a path with a space or a control byte is refused here.
 */
import type { CheckTarget } from './types.ts';
import { LabError } from '../errors.ts';
import { isTarget } from '../../wire/index.ts';

/** A request-target the probes write verbatim into request lines: no spaces, no control bytes. */
function requestPath(value: string, option: string): string {
  if (!value.startsWith('/') || !isTarget(value)) throw new LabError('HF_LAB_CHECK_TARGET', `${option} must be an absolute path of visible ASCII characters (got ${JSON.stringify(value)})`);
  return value;
}

/** Parses the URL and paths of a check; throws HF_LAB_CHECK_TARGET. */
export function checkTarget(url: string, options: { uploadPath?: string; largePath?: string } = {}): CheckTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LabError('HF_LAB_CHECK_TARGET', `not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:') throw new LabError('HF_LAB_CHECK_TARGET', `only http:// URLs can be checked (the probes speak HTTP/1.1 on plain TCP), got ${u.protocol}`);
  if (u.username !== '' || u.password !== '') throw new LabError('HF_LAB_CHECK_TARGET', 'the URL must not carry credentials');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const path = `${u.pathname}${u.search}`;
  return {
    url: u.href,
    host,
    port: u.port === '' ? 80 : Number(u.port),
    authority: u.host,
    path: requestPath(path, 'the URL path'),
    uploadPath: options.uploadPath === undefined ? path : requestPath(options.uploadPath, '--upload-path'),
    largePath: options.largePath === undefined ? path : requestPath(options.largePath, '--large-path'),
  };
}
