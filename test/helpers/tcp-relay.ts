import net from 'node:net';
import { after } from 'node:test';

/**
 * A TCP relay between a node and what it talks to (its primary, the lease server), standing in
 * for the network: `stall()` stops delivering bytes but keeps every connection open (a partition
 * neither end is told of), `cut()` drops every connection and refuses new ones, `throttle()`
 * makes it a slow link, `heal()` ends any of these (bytes held during a stall are then delivered).
 * Closed when the test file ends.
 */
export class TcpRelay {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #held: Array<{ to: net.Socket; data: Buffer }> = [];
  #state: 'open' | 'stalled' | 'cut' = 'open';
  #bytesPerSecond: number | undefined;
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      if (this.#state === 'cut') return void client.destroy();
      const upstream = net.connect(target.port, target.host);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.#sockets.add(from);
        from.on('data', (data: Buffer) => {
          if (this.#state !== 'open') return void this.#held.push({ to, data });
          to.write(data);
          const rate = this.#bytesPerSecond;
          if (rate === undefined) return;
          // The sender waits, through TCP's own backpressure, as long as the link takes for this chunk.
          from.pause();
          setTimeout(() => from.resume(), (data.length / rate) * 1000);
        });
        from.on('error', end).on('close', end);
      }
    });
  }

  /** Starts a relay to `target` (a URL) on a free loopback port. */
  static async start(target: string): Promise<TcpRelay> {
    const u = new URL(target);
    const relay = new TcpRelay({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((resolve) => relay.#server.listen(0, '127.0.0.1', resolve));
    relay.port = (relay.#server.address() as net.AddressInfo).port;
    after(() => relay.close());
    return relay;
  }

  /** The relay's URL in place of the target's. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  stall(): void {
    this.#state = 'stalled';
  }

  cut(): void {
    this.#state = 'cut';
    this.#held = [];
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  /** Delivers at most `bytesPerSecond` each way, until heal(). */
  throttle(bytesPerSecond: number): void {
    this.#bytesPerSecond = bytesPerSecond;
  }

  heal(): void {
    this.#state = 'open';
    this.#bytesPerSecond = undefined;
    for (const { to, data } of this.#held.splice(0)) if (!to.destroyed) to.write(data);
  }

  close(): void {
    this.cut();
    this.#server.close();
  }
}
