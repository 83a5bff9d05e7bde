/**
 * An HTTP proxy on 127.0.0.1 in front of the S3 emulator that misbehaves on purpose, one S3
 * operation at a time: delay, never answer, reset the connection, answer an S3 error, cut a
 * response body short, answer 200 with an error body, or forward and then lose the answer. It
 * also enforces `If-None-Match: *` and `If-Match` as real S3 does (the emulator ignores them), by
 * asking the emulator for the key's ETag first. Every request it saw is recorded.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'ListObjectsV2'
  | 'DeleteObject'
  | 'Other';

export interface SeenRequest {
  readonly operation: S3Operation;
  readonly method: string;
  /** The object key (path after the bucket), '' for bucket-level requests. */
  readonly key: string;
  readonly partNumber?: number;
  readonly headers: IncomingMessage['headers'];
  /** The status the client got, when it got one. */
  status?: number;
}

export type Fault =
  | { readonly kind: 'delay'; readonly ms: number }
  /** Reads the request, never answers; the connection stays open until the client gives up. */
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'status'; readonly status: number; readonly code: string }
  /** Forwards, then sends the headers and only the first `bytes` bytes of the body. */
  | { readonly kind: 'truncate'; readonly bytes: number }
  | { readonly kind: 'error-body'; readonly code: string }
  /** Forwards (the emulator acts on it), then resets the connection: the answer is lost. */
  | { readonly kind: 'lose-answer' };

export interface FaultRule {
  readonly match: (request: SeenRequest) => boolean;
  readonly fault: Fault;
  /** How many matching requests the rule applies to. @default every one */
  readonly times?: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly seen: SeenRequest[];
  /** Replaces the rules (first match wins); `[]` forwards everything unchanged. */
  rules(rules: readonly FaultRule[]): void;
  close(): Promise<void>;
}

/** Matches one operation, optionally only on keys containing `keyPart` or one part number. */
export function on(operation: S3Operation, options: { keyPart?: string; partNumber?: number } = {}) {
  return (r: SeenRequest) =>
    r.operation === operation &&
    (options.keyPart === undefined || r.key.includes(options.keyPart)) &&
    (options.partNumber === undefined || r.partNumber === options.partNumber);
}

export function classify(method: string, url: URL): S3Operation {
  const q = url.searchParams;
  const [, , ...key] = url.pathname.split('/');
  if (key.length === 0 || key.join('/') === '') return method === 'GET' ? 'ListObjectsV2' : 'Other';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && q.has('partNumber')) return 'UploadPart';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  const simple: Record<string, S3Operation> = {
    PUT: 'PutObject',
    GET: 'GetObject',
    HEAD: 'HeadObject',
    DELETE: 'DeleteObject',
  };
  return simple[method] ?? 'Other';
}

const errorXml = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`;

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let current: { rule: FaultRule; left: number }[] = [];

  const forward = (
    method: string,
    path: string,
    headers: IncomingMessage['headers'],
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method,
          path,
          headers: { ...headers, host: target.host },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  /** Real S3's conditional writes: 412 when If-None-Match: * finds the key, or If-Match another ETag. */
  const preconditionFails = async (entry: SeenRequest, path: string): Promise<number | undefined> => {
    const ifNoneMatch = entry.headers['if-none-match'];
    const ifMatch = entry.headers['if-match'];
    const writes = entry.operation === 'PutObject' || entry.operation === 'CompleteMultipartUpload';
    if (!writes || (ifNoneMatch === undefined && ifMatch === undefined)) return undefined;
    const head = await forward('HEAD', path.split('?')[0] ?? path, {}, Buffer.alloc(0));
    const etag = head.status === 200 ? String(head.headers.etag ?? '') : undefined;
    if (ifNoneMatch === '*' && etag !== undefined) return 412;
    if (ifMatch !== undefined && etag === undefined) return 404;
    if (ifMatch !== undefined && ifMatch.replaceAll('"', '') !== etag?.replaceAll('"', '')) return 412;
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const [, , ...keyParts] = url.pathname.split('/');
    const part = url.searchParams.get('partNumber');
    const entry: SeenRequest = {
      operation: classify(req.method ?? 'GET', url),
      method: req.method ?? 'GET',
      key: decodeURIComponent(keyParts.join('/')),
      ...(part ? { partNumber: Number(part) } : {}),
      headers: req.headers,
    };
    seen.push(entry);
    const slot = current.find((s) => s.left > 0 && s.rule.match(entry));
    if (slot) slot.left -= 1;
    const fault = slot?.rule.fault;
    const answer = (status: number, headers: Record<string, string | string[] | undefined>, data: Buffer) => {
      entry.status = status;
      res.writeHead(status, headers).end(data);
    };

    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      answer(fault.status, { 'content-type': 'application/xml' }, Buffer.from(errorXml(fault.code)));
      return;
    }
    if (fault?.kind === 'error-body') {
      answer(200, { 'content-type': 'application/xml' }, Buffer.from(errorXml(fault.code)));
      return;
    }
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    const refused = await preconditionFails(entry, req.url ?? '/');
    if (refused === 412) {
      answer(412, { 'content-type': 'application/xml' }, Buffer.from(errorXml('PreconditionFailed')));
      return;
    }
    if (refused === 404) {
      answer(404, { 'content-type': 'application/xml' }, Buffer.from(errorXml('NoSuchKey')));
      return;
    }
    const { host: _host, expect: _expect, ...headers } = req.headers;
    const upstreamAnswer = await forward(entry.method, req.url ?? '/', headers, body);
    if (fault?.kind === 'lose-answer') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'truncate') {
      entry.status = upstreamAnswer.status;
      res.writeHead(upstreamAnswer.status, upstreamAnswer.headers);
      res.write(upstreamAnswer.body.subarray(0, fault.bytes), () => req.socket.destroy());
      return;
    }
    answer(upstreamAnswer.status, upstreamAnswer.headers, upstreamAnswer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    rules(rules) {
      current = rules.map((rule) => ({ rule, left: rule.times ?? Number.POSITIVE_INFINITY }));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
