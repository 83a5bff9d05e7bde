/** A TCP proxy on 127.0.0.1 that can be cut: the endpoint disappears mid-conversation. */
import { connect, createServer, type Socket } from 'node:net';

export interface CuttableProxy {
  readonly port: number;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /**
   * Cuts one response mid-stream: the connection whose request contains `requestText` (e.g. the
   * method and key of a GET) is dropped once more than `afterBytes` of its answer were relayed.
   * Once only; every other connection, before and after, is relayed as usual.
   */
  cutResponse(requestText: string, afterBytes: number): Promise<void>;
  close(): Promise<void>;
}

interface PendingCut {
  readonly requestText: string;
  readonly afterBytes: number;
  readonly done: () => void;
}

export async function startProxy(targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let pending: PendingCut | undefined;
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    let cutting: PendingCut | undefined;
    let relayed = 0;
    client.on('data', (chunk: Buffer) => {
      if (pending && chunk.toString('latin1').includes(pending.requestText)) {
        cutting = pending;
        pending = undefined;
        relayed = 0;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!cutting) {
        client.write(chunk);
        return;
      }
      const room = cutting.afterBytes - relayed;
      if (room > 0) client.write(chunk.subarray(0, room));
      relayed += chunk.length;
      if (relayed > cutting.afterBytes) {
        client.destroy();
        upstream.destroy();
        cutting.done();
        cutting = undefined;
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
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
    cutResponse: (requestText, afterBytes) =>
      new Promise((resolve) => {
        pending = { requestText, afterBytes, done: resolve };
      }),
    close: async () => {
      cut();
    },
  };
}
