/**
 * The proxy's metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Each process keeps its own counters and hands out a `MetricsSnapshot` (plain data, so worker
 * processes can send theirs to the primary over IPC); `renderPrometheus` merges snapshots and
 * writes the text. Counters and histograms are summed over processes; gauges are summed too
 * (in-flight requests, open connections) except the upstream health gauge, which takes the
 * highest value (an upstream is up when some worker can reach it).
 */
import type { AccessRecord } from './accessLog.ts';
import type { TunnelRecord } from './tunnel.ts';

/** One metric family in a snapshot: samples keyed by their full name with labels. */
export interface MetricFamily {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  merge: 'sum' | 'max';
  samples: Record<string, number>;
}

/** A process's metrics, keyed by family name. */
export type MetricsSnapshot = Record<string, MetricFamily>;

/** Upper bounds (seconds) of the upstream latency histogram's buckets. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A label value escaped as the exposition format requires. */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${label(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** State of one upstream at snapshot time. */
export interface UpstreamGauge {
  route: string;
  upstream: string;
  healthy: boolean;
  /** Requests holding a slot of it. */
  active: number;
  /** Connections open to it. */
  connections: number;
}

/** Upstream response times of one upstream: a count per bucket (not cumulative), sum and count. */
interface LatencyHistogram {
  /** Observations per bucket: index i counts those in (LATENCY_BUCKETS[i-1], LATENCY_BUCKETS[i]]; the last, those above. */
  readonly perBucket: Float64Array;
  sum: number;
  count: number;
}

/** Counters of one process. */
export class ProxyMetrics {
  private readonly families: MetricsSnapshot = {};
  private inFlight = 0;
  /** Tunnels open now, by route (a gauge: the routes keep their sample at 0 once seen). */
  private readonly openTunnels = new Map<string, number>();
  /** Sample keys already built (a request must not pay for formatting labels). */
  private readonly keys = new Map<string, string>();
  // The two families every request touches are kept as plain numbers and written out as
  // samples only in `snapshot()`: a sample is a property of a dictionary-mode object keyed by
  // a long label string, and a histogram observation would update 14 of them.
  /** Requests answered, by route, then by status class (index 1 to 5). */
  private readonly requests = new Map<string, number[]>();
  private readonly latency = new Map<string, LatencyHistogram>();

  private key(name: string, pairs: Record<string, string>): string {
    const id = `${name}\u0000${Object.values(pairs).join('\u0000')}`;
    let k = this.keys.get(id);
    if (k === undefined) {
      k = `${name}${labels(pairs)}`;
      this.keys.set(id, k);
    }
    return k;
  }

  private family(name: string, help: string, type: MetricFamily['type'], merge: MetricFamily['merge'] = 'sum'): MetricFamily {
    let f = this.families[name];
    if (f === undefined) {
      f = { help, type, merge, samples: {} };
      this.families[name] = f;
    }
    return f;
  }

  private add(f: MetricFamily, key: string, by = 1): void {
    f.samples[key] = (f.samples[key] ?? 0) + by;
  }

  /** A request began. */
  requestStarted(): void {
    this.inFlight++;
  }

  /** A request ended: counts it by route and status class, its retries, cache outcome and upstream time. */
  requestEnded(r: AccessRecord): void {
    this.inFlight--;
    const route = r.route ?? '';
    let byClass = this.requests.get(route);
    if (byClass === undefined) {
      byClass = [];
      this.requests.set(route, byClass);
    }
    const statusClass = Math.floor(r.status / 100);
    byClass[statusClass] = (byClass[statusClass] ?? 0) + 1;
    if (r.retries > 0) {
      const retries = this.family('holdfast_proxy_retries_total', 'Attempts repeated on another upstream after a failure.', 'counter');
      this.add(retries, this.key('holdfast_proxy_retries_total', { route }), r.retries);
    }
    if (r.cache !== null) {
      const cache = this.family('holdfast_proxy_cache_total', 'Cache outcomes, by route.', 'counter');
      this.add(cache, this.key('holdfast_proxy_cache_total', { route, outcome: r.cache }));
    }
    if (r.upstream !== null && r.upstreamMs !== null) {
      let h = this.latency.get(r.upstream);
      if (h === undefined) {
        h = { perBucket: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
        this.latency.set(r.upstream, h);
      }
      const seconds = r.upstreamMs / 1000;
      let i = 0;
      while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
      h.perBucket[i]!++;
      h.sum += seconds;
      h.count++;
    }
  }

  /** The per-request families as samples, in the order the exposition format lists them. */
  private requestFamilies(out: MetricsSnapshot): void {
    if (this.requests.size > 0) {
      const samples: Record<string, number> = {};
      for (const [route, byClass] of this.requests) {
        for (let c = 0; c < byClass.length; c++) {
          const n = byClass[c];
          if (n !== undefined) samples[this.key('holdfast_proxy_requests_total', { route, code: `${c}xx` })] = n;
        }
      }
      out.holdfast_proxy_requests_total = { help: 'Requests answered, by route and status class.', type: 'counter', merge: 'sum', samples };
    }
    if (this.latency.size > 0) {
      const name = 'holdfast_proxy_upstream_response_seconds';
      const samples: Record<string, number> = {};
      for (const [upstream, h] of this.latency) {
        // Buckets are cumulative and all present from the first observation on, as
        // histogram_quantile() expects.
        let cumulative = 0;
        for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
          cumulative += h.perBucket[i]!;
          const le = i === LATENCY_BUCKETS.length ? '+Inf' : String(LATENCY_BUCKETS[i]);
          samples[this.key(`${name}_bucket`, { upstream, le })] = cumulative;
        }
        samples[this.key(`${name}_sum`, { upstream })] = h.sum;
        samples[this.key(`${name}_count`, { upstream })] = h.count;
      }
      out[name] = { help: 'Time from sending a request upstream to its response head.', type: 'histogram', merge: 'sum', samples };
    }
  }

  /** A request of `route` became a tunnel (101). */
  tunnelOpened(route: string): void {
    this.openTunnels.set(route, (this.openTunnels.get(route) ?? 0) + 1);
  }

  /** A tunnel of `route` closed: counted by reason, its bytes by direction, its duration. */
  tunnelClosed(route: string, t: TunnelRecord): void {
    this.openTunnels.set(route, (this.openTunnels.get(route) ?? 1) - 1);
    const closed = this.family('holdfast_proxy_tunnels_closed_total', 'Tunnels (WebSockets) closed, by route and reason.', 'counter');
    this.add(closed, this.key('holdfast_proxy_tunnels_closed_total', { route, reason: t.reason }));
    const bytes = this.family('holdfast_proxy_tunnel_bytes_total', 'Bytes carried by closed tunnels, by route and direction (from_client, from_upstream).', 'counter');
    this.add(bytes, this.key('holdfast_proxy_tunnel_bytes_total', { route, direction: 'from_client' }), t.bytesFromClient);
    this.add(bytes, this.key('holdfast_proxy_tunnel_bytes_total', { route, direction: 'from_upstream' }), t.bytesFromUpstream);
    const seconds = this.family('holdfast_proxy_tunnel_seconds_total', 'Lifetime of closed tunnels added up, by route (divide by the closed count for the mean).', 'counter');
    this.add(seconds, this.key('holdfast_proxy_tunnel_seconds_total', { route }), t.durationMs / 1000);
  }

  /** The cache store of `route` failed (the request went on without it). */
  storeError(route: string): void {
    const f = this.family('holdfast_proxy_cache_store_errors_total', 'Cache store failures, by route.', 'counter');
    this.add(f, `holdfast_proxy_cache_store_errors_total${labels({ route })}`);
  }

  /** The counters plus gauges read now. */
  snapshot(upstreams: readonly UpstreamGauge[], connections: number): MetricsSnapshot {
    const out: MetricsSnapshot = structuredClone(this.families);
    this.requestFamilies(out);
    out.holdfast_proxy_in_flight_requests = {
      help: 'Requests being handled.',
      type: 'gauge',
      merge: 'sum',
      samples: { holdfast_proxy_in_flight_requests: this.inFlight },
    };
    out.holdfast_proxy_client_connections = {
      help: 'Open client connections.',
      type: 'gauge',
      merge: 'sum',
      samples: { holdfast_proxy_client_connections: connections },
    };
    const tunnels: MetricFamily = { help: 'Tunnels (WebSockets) open, by route.', type: 'gauge', merge: 'sum', samples: {} };
    for (const [route, n] of this.openTunnels) tunnels.samples[this.key('holdfast_proxy_tunnels_open', { route })] = n;
    out.holdfast_proxy_tunnels_open = tunnels;
    const healthy: MetricFamily = { help: 'Whether the upstream is taking traffic (1) or marked down (0).', type: 'gauge', merge: 'max', samples: {} };
    const active: MetricFamily = { help: 'Requests in flight to the upstream.', type: 'gauge', merge: 'sum', samples: {} };
    const upstreamConnections: MetricFamily = { help: 'Connections open to the upstream.', type: 'gauge', merge: 'sum', samples: {} };
    for (const u of upstreams) {
      const l = labels({ route: u.route, upstream: u.upstream });
      healthy.samples[`holdfast_proxy_upstream_up${l}`] = u.healthy ? 1 : 0;
      active.samples[`holdfast_proxy_upstream_active_requests${l}`] = u.active;
      upstreamConnections.samples[`holdfast_proxy_upstream_connections${l}`] = u.connections;
    }
    out.holdfast_proxy_upstream_up = healthy;
    out.holdfast_proxy_upstream_active_requests = active;
    out.holdfast_proxy_upstream_connections = upstreamConnections;
    return out;
  }
}

/** Merges snapshots of several processes and writes them in the text exposition format. */
export function renderPrometheus(snapshots: readonly MetricsSnapshot[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const s of snapshots) {
    for (const [name, f] of Object.entries(s)) {
      let m = merged.get(name);
      if (m === undefined) {
        m = { ...f, samples: {} };
        merged.set(name, m);
      }
      for (const [k, v] of Object.entries(f.samples)) {
        const prev = m.samples[k];
        m.samples[k] = prev === undefined ? v : m.merge === 'max' ? Math.max(prev, v) : prev + v;
      }
    }
  }
  let text = '';
  for (const name of [...merged.keys()].sort()) {
    const f = merged.get(name)!;
    text += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`;
    for (const [k, v] of Object.entries(f.samples)) text += `${k} ${v}\n`;
  }
  return text;
}
