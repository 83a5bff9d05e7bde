/**
 * The table of contents at the head of a pg_dump custom-format archive, read from the first bytes
 * of the stream: every entry's dump id, kind, schema, name and dependencies. `pg_restore --list`
 * prints the same entries but without their dependencies and with names unquoted (ambiguous), and
 * it cannot be run on a stream that another pg_restore then reads; so the TOC is read here, as
 * pg_backup_archiver.c's ReadHead/ReadToc write it (archive versions 1.12 to 1.16: pg_dump 9.6–18).
 */

export interface TocEntry {
  readonly dumpId: number;
  /** e.g. TABLE, TABLE DATA, SEQUENCE, FK CONSTRAINT, INDEX, POLICY, ACL. */
  readonly desc: string;
  readonly namespace: string | undefined;
  readonly tag: string;
  readonly owner: string | undefined;
  readonly deps: readonly number[];
}

/** The bytes do not hold a custom-format archive this reader knows. */
export class TocFormatError extends Error {}

const MIN_VERSION = [1, 12] as const;
const MAX_VERSION = [1, 16] as const;

class NeedMore extends Error {}

/**
 * The entries, or undefined when `bytes` ends before the TOC does (read more and try again).
 * Throws TocFormatError when the bytes are not a custom-format archive.
 */
export function readToc(bytes: Buffer): TocEntry[] | undefined {
  let at = 0;
  const take = (n: number) => {
    if (at + n > bytes.length) throw new NeedMore();
    const slice = bytes.subarray(at, at + n);
    at += n;
    return slice;
  };
  const byte = () => take(1)[0] as number;
  try {
    if (take(5).toString('latin1') !== 'PGDMP') throw new TocFormatError('no PGDMP magic string');
    const major = byte();
    const minor = byte();
    byte(); // revision
    const version = major * 100 + minor;
    if (version < MIN_VERSION[0] * 100 + MIN_VERSION[1] || version > MAX_VERSION[0] * 100 + MAX_VERSION[1])
      throw new TocFormatError(`archive version ${major}.${minor} is not supported`);
    const intSize = byte();
    const offSize = byte();
    if (byte() !== 1) throw new TocFormatError('not a custom-format archive');
    const int = () => {
      const negative = byte() !== 0;
      let value = 0;
      for (let i = 0; i < intSize; i++) value += byte() * 2 ** (8 * i);
      return negative ? -value : value;
    };
    const str = () => {
      const length = int();
      return length < 0 ? undefined : take(length).toString('utf8');
    };
    if (version >= 115)
      byte(); // compression algorithm
    else int(); // compression level
    for (let i = 0; i < 7; i++) int(); // creation time
    str(); // database name
    str(); // server version
    str(); // pg_dump version
    const count = int();
    const entries: TocEntry[] = [];
    for (let i = 0; i < count; i++) {
      const dumpId = int();
      int(); // had dumper
      str(); // table oid
      str(); // oid
      const tag = str() ?? '';
      const desc = str() ?? '';
      int(); // section
      str(); // definition
      str(); // drop statement
      str(); // copy statement
      const namespace = str() || undefined;
      str(); // tablespace
      str(); // table access method
      if (version >= 116) int(); // relkind
      const owner = str() || undefined;
      str(); // with oids
      const deps: number[] = [];
      for (let dep = str(); dep !== undefined; dep = str()) deps.push(Number(dep));
      take(1 + offSize); // data offset: flag and value
      entries.push({ dumpId, desc, namespace, tag, owner, deps });
    }
    return entries;
  } catch (error) {
    if (error instanceof NeedMore) return undefined;
    throw error;
  }
}
