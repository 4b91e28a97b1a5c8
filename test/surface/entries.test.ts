/**
 * The public surface, written down: the runtime exports of each public entry. Adding or removing
 * one is an API change — update this list and CHANGELOG.md together. (Types are not visible at
 * runtime; `holdfast/wire`, the codec, grows with the shared HTTP vocabulary and is checked only
 * for what must never be in it.) And every `exports` entry of package.json has its source file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);

const SURFACE: Record<string, { file: string; names: string[] | null }> = {
  'holdfast': {
    file: 'src/client/index.ts',
    names: [
      'AbortedError', 'Agent', 'ClientError', 'ClientResponse', 'ConnectError', 'HeaderList', 'HoldfastDispatcher', 'HoldfastError', 'InvalidOptionError',
      'InvalidRequestError', 'PoolClosedError', 'QueueFullError', 'RequestBodyError', 'ResponseBody', 'ResponseParseError',
      'SocketResetError', 'StaleConnectionError', 'TimeoutError', 'TlsError', 'TruncatedBodyError', 'fetch', 'getDefaultAgent',
      'installGlobalDispatcher', 'installedGlobalDispatcher', 'request', 'setDefaultAgent', 'uninstallGlobalDispatcher',
    ],
  },
  'holdfast/wire': { file: 'src/wire/index.ts', names: null },
  'holdfast/server': {
    file: 'src/server/index.ts',
    names: [
      'HoldfastError', 'IncomingBody', 'InvalidOptionError', 'LightResponse', 'NativeResponse', 'ResponseWriter', 'Server', 'ServerError',
      'ServerRequest', 'createServer', 'serve', 'serveStatic',
    ],
  },
  'holdfast/cache': {
    file: 'src/cache/index.ts',
    names: [
      'Cache', 'CacheError', 'CorruptEntryError', 'HeaderList', 'HoldfastError', 'InvalidOptionError', 'MemoryStore', 'RedisClientMissingError',
      'RedisStore', 'SqliteStore', 'StoreClosedError', 'StoreConnectionError', 'StoreGuard', 'StoreTimeoutError', 'StoreUnavailableError',
      'Unexpected304Error', 'breakerLog', 'cacheInterceptor', 'createCache', 'describeError',
    ],
  },
  'holdfast/proxy': { file: 'src/proxy/index.ts', names: ['HoldfastError', 'InvalidOptionError', 'ProxyError', 'ReverseProxy', 'createProxy'] },
  'holdfast/lab': {
    file: 'src/lab/index.ts',
    names: [
      'FaultProxy', 'HoldfastError', 'LabError', 'check', 'checkProbes', 'checkTarget', 'nginxServer', 'renderCheckHtml', 'renderCheckReport', 'PeerConnection', 'RawConnection', 'ScriptedPeer', 'ThreadedIdlePeer', 'apacheServer',
      'axiosClient', 'clientScenarios', 'clientSubjects', 'curlClient', 'djangoServer', 'gotClient', 'holdfastFetchClient',
      'holdfastRequestClient', 'holdfastServer', 'naiveClient', 'naiveServer', 'nodeAgentClient', 'nodeFetchClient', 'nodeFetchHoldfastClient', 'nodeHttpServer',
      'pythonHttpServer', 'pythonRequestsClient', 'pythonThreadingServer', 'renderHtmlReport', 'renderScorecard', 'runLab', 'scenarios',
      'serverScenarios', 'serverSubjects', 'subjects', 'undiciHoldfastClient', 'undiciPoolClient',
    ],
  },
  'holdfast/internals': { file: 'src/internals.ts', names: null },
  // Imported for its effect (it installs the global dispatcher), so never imported here.
  'holdfast/register': { file: 'src/client/register.ts', names: null },
};

/** Internals that once were public: they live in holdfast/internals only. */
const INTERNAL = [
  'Pool', 'ClientConnection', 'OutgoingBody', 'RequestBody', 'compose', 'isReplayable', 'parseRetryAfter', 'Balancer', 'ReadAhead',
  'Upstream', 'lingeringClose', 'encodeEntry', 'decodeEntry', 'prepareRequestBody', 'lazyRequest', 'writeResponse', 'fetchToStreaming',
  'refuseListenOptions', 'supportsReusePort', 'installLightResponse', 'Proxy',
];

test('each public entry exports exactly its documented names, and no internal', async () => {
  for (const [entry, { file, names }] of Object.entries(SURFACE)) {
    if (entry === 'holdfast/register') continue;
    const exported = Object.keys(await import(new URL(file, root).href)).sort();
    if (entry !== 'holdfast/internals') {
      for (const name of INTERNAL) assert.ok(!exported.includes(name), `${entry} exports the internal ${name}`);
    }
    if (names !== null) assert.deepEqual(exported, [...names].sort(), entry);
  }
});

test('the internals are all reachable from holdfast/internals', async () => {
  const internals = Object.keys(await import(new URL('src/internals.ts', root).href));
  for (const name of INTERNAL.filter((n) => n !== 'RequestBody' && n !== 'Proxy')) assert.ok(internals.includes(name), name);
});

test('package.json exports every entry, each built from its source file', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { exports: Record<string, string | { types: string; default: string }> };
  const keys = Object.keys(pkg.exports).filter((k) => k !== './package.json');
  assert.deepEqual(keys.map((k) => (k === '.' ? 'holdfast' : `holdfast/${k.slice(2)}`)).sort(), Object.keys(SURFACE).sort());
  for (const key of keys) {
    const target = pkg.exports[key] as { types: string; default: string };
    const source = target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    assert.equal(source, SURFACE[key === '.' ? 'holdfast' : `holdfast/${key.slice(2)}`]!.file, key);
    assert.equal(target.types, target.default.replace(/\.js$/, '.d.ts'), key);
    assert.ok(existsSync(new URL(source, root)), source);
  }
});
