/** A TCP proxy on 127.0.0.1 that can be cut: the endpoint disappears mid-conversation. */
import { connect, createServer, type Socket } from 'node:net';

export interface CuttableProxy {
  readonly port: number;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const cut = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    cut,
    close: async () => {
      cut();
    },
  };
}
