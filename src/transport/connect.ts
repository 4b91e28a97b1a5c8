/**
 * Opening one client socket: TCP (with Happy Eyeballs through `autoSelectFamily`) or TLS with
 * SNI, bounded by a connect timeout that covers DNS, TCP and the TLS handshake together.
 * The result says which step failed so that the layer above can name the phase.
 */
import net from 'node:net';
import tls from 'node:tls';

/** TLS settings for an HTTPS origin. */
export interface ClientTlsOptions {
  /** Trusted CA certificates (replaces the default roots when given). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate chain and key, for mutual TLS. */
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer>;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** SNI server name; defaults to the URL's host when it is not an IP address. */
  servername?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  /** Custom server identity check. */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** Wrap the socket in TLS. */
  tls: ClientTlsOptions | null;
  /** Milliseconds for DNS + TCP + TLS; 0 disables. */
  timeout: number;
  /** Happy Eyeballs (RFC 8305) through net's `autoSelectFamily`. */
  autoSelectFamily: boolean;
  /** Name resolution in place of `dns.lookup` (service discovery, pinning, tests). */
  lookup?: net.LookupFunction | undefined;
  /** A TLS session from an earlier connection to resume. */
  session?: Buffer | undefined;
}

/** Which step failed: name resolution/TCP, the TLS handshake, or the overall timeout. */
export type ConnectFailure = 'connect' | 'tls' | 'timeout';

export type ConnectCallback = (err: Error | null, socket: net.Socket | null, failure: ConnectFailure | null) => void;

/**
 * Opens a socket and calls `done` exactly once: with the connected (and, for TLS, handshaken)
 * socket, or with the error and the step that failed. Returns a function that cancels the
 * attempt (the callback is then never called).
 */
export function openSocket(options: ConnectOptions, done: ConnectCallback): () => void {
  let settled = false;
  let timer: NodeJS.Timeout | null = null;
  let tcpConnected = false;
  let socket: net.Socket;
  const host = options.host.startsWith('[') ? options.host.slice(1, -1) : options.host;

  const finish = (err: Error | null, failure: ConnectFailure | null): void => {
    if (settled) return;
    settled = true;
    if (timer !== null) clearTimeout(timer);
    socket.removeListener('error', onError);
    socket.removeListener(options.tls !== null ? 'secureConnect' : 'connect', onReady);
    if (err !== null) {
      socket.destroy();
      done(err, null, failure);
    } else {
      done(null, socket, null);
    }
  };
  const onError = (err: Error): void => finish(err, options.tls !== null && tcpConnected ? 'tls' : 'connect');
  const onReady = (): void => finish(null, null);

  if (options.tls !== null) {
    const t = options.tls;
    const servername = t.servername ?? (net.isIP(host) === 0 ? host : undefined);
    const tlsOptions: tls.ConnectionOptions = {
      host,
      port: options.port,
      ALPNProtocols: ['http/1.1'],
    };
    // tls.connect passes socket options on to net.connect; the type omits this one.
    (tlsOptions as net.TcpNetConnectOpts).autoSelectFamily = options.autoSelectFamily;
    if (options.lookup !== undefined) tlsOptions.lookup = options.lookup;
    if (servername !== undefined) tlsOptions.servername = servername;
    if (t.ca !== undefined) tlsOptions.ca = t.ca;
    if (t.cert !== undefined) tlsOptions.cert = t.cert;
    if (t.key !== undefined) tlsOptions.key = t.key;
    if (t.rejectUnauthorized !== undefined) tlsOptions.rejectUnauthorized = t.rejectUnauthorized;
    if (t.minVersion !== undefined) tlsOptions.minVersion = t.minVersion;
    if (t.maxVersion !== undefined) tlsOptions.maxVersion = t.maxVersion;
    if (t.ciphers !== undefined) tlsOptions.ciphers = t.ciphers;
    if (t.checkServerIdentity !== undefined) tlsOptions.checkServerIdentity = t.checkServerIdentity;
    if (options.session !== undefined) tlsOptions.session = options.session;
    socket = tls.connect(tlsOptions);
    // 'connect' fires on the underlying TCP socket before the handshake: errors after it are TLS.
    socket.once('connect', () => { tcpConnected = true; });
    socket.once('secureConnect', onReady);
  } else {
    const tcp: net.TcpNetConnectOpts = { host, port: options.port, autoSelectFamily: options.autoSelectFamily };
    if (options.lookup !== undefined) tcp.lookup = options.lookup;
    socket = net.connect(tcp);
    socket.once('connect', onReady);
  }
  socket.on('error', onError);
  if (options.timeout > 0) {
    timer = setTimeout(() => {
      finish(new Error(`connect timed out after ${options.timeout} ms`), 'timeout');
    }, options.timeout);
    timer.unref();
  }
  return () => {
    if (settled) return;
    settled = true;
    if (timer !== null) clearTimeout(timer);
    socket.removeListener('error', onError);
    socket.on('error', () => {});
    socket.destroy();
  };
}
