/**
 * Which archive entries a table restore needs, from the dump's TOC and its dependencies: the named
 * tables (and every table of a named schema), their partitions, their data, owned sequences,
 * defaults, constraints, indexes, triggers, policies, comments and grants, and upward what they
 * need (schemas, types, functions, extensions, sequences). A foreign key to a table that is not
 * restored is left out and named; an entry of another table (a view, another table's trigger) never
 * comes along.
 */
import type { TocEntry } from './dump-toc.ts';

export interface TableRequest {
  /** `schema.name`, split. */
  readonly tables: readonly { readonly schema: string; readonly table: string }[];
  readonly schemas: readonly string[];
}

export interface TableSelection {
  /** The list for `pg_restore --use-list`, in archive order. */
  readonly dumpIds: readonly number[];
  /** Every table restored with its rows, `schema.name`. */
  readonly tables: readonly string[];
  /** Foreign keys of restored tables left out because they reference a table not restored. */
  readonly foreignKeysLeftOut: readonly string[];
  /** Requested tables or schemas the archive does not hold. */
  readonly missing: readonly string[];
  /** Restored tables that need a table not restored (a partition's parent): `child needs parent`. */
  readonly needs: readonly string[];
}

const RELATIONS = new Set(['TABLE', 'VIEW', 'MATERIALIZED VIEW', 'FOREIGN TABLE']);
/** Entries that belong to the object they depend on, and come with it. */
const BELONGING = new Set([
  'TABLE DATA',
  'TABLE ATTACH',
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'DEFAULT',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'INDEX',
  'INDEX ATTACH',
  'TRIGGER',
  'POLICY',
  'ROW SECURITY',
  'RULE',
  'STATISTICS',
  'COMMENT',
  'ACL',
  'SECURITY LABEL',
]);
/** Handled by pg_restore itself whatever the list says; listed for clarity. */
const SPECIAL = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);

const qualified = (e: TocEntry) => `${e.namespace ?? ''}.${e.tag}`;

export function selectTables(toc: readonly TocEntry[], request: TableRequest): TableSelection {
  const byId = new Map(toc.map((e) => [e.dumpId, e]));
  const tables = toc.filter((e) => e.desc === 'TABLE');
  const wanted = new Set(request.tables.map((t) => `${t.schema}.${t.table}`));
  const schemas = new Set(request.schemas);
  const missing = [
    ...[...wanted].filter((name) => !tables.some((t) => qualified(t) === name)),
    ...[...schemas].filter((s) => !toc.some((e) => e.desc === 'SCHEMA' && e.tag === s) && s !== 'public'),
  ];
  const roots = new Set(
    tables.filter((t) => wanted.has(qualified(t)) || schemas.has(t.namespace ?? '')).map((t) => t.dumpId),
  );
  // Partitions and inheritance children: tables that depend on a selected table.
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of tables) {
      if (!roots.has(t.dumpId) && t.deps.some((d) => roots.has(d))) {
        roots.add(t.dumpId);
        grew = true;
      }
    }
  }
  const selected = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of toc) {
      if (selected.has(e.dumpId)) continue;
      const belongs = BELONGING.has(e.desc) && e.deps.some((d) => selected.has(d));
      if (belongs || SPECIAL.has(e.desc)) {
        selected.add(e.dumpId);
        grew = true;
      }
    }
    // Upward: what the selected entries need, except other relations and their parts.
    for (const id of [...selected]) {
      for (const dep of byId.get(id)?.deps ?? []) {
        const needed = byId.get(dep);
        if (!needed || selected.has(dep) || RELATIONS.has(needed.desc)) continue;
        if (BELONGING.has(needed.desc) && needed.desc !== 'SEQUENCE') continue;
        selected.add(dep);
        grew = true;
      }
    }
  }
  // Prune what needs an entry left out (another table's trigger on a shared function, a foreign
  // key to a table not restored), until every selected entry has all it depends on.
  const leftOut: TocEntry[] = [];
  for (let shrank = true; shrank; ) {
    shrank = false;
    for (const id of [...selected]) {
      const e = byId.get(id);
      if (!e || roots.has(id)) continue;
      if (e.deps.some((d) => byId.has(d) && !selected.has(d))) {
        selected.delete(id);
        leftOut.push(e);
        shrank = true;
      }
    }
  }
  const foreignKeysLeftOut = leftOut
    .filter((e) => e.desc === 'FK CONSTRAINT')
    .flatMap((e) => {
      // An FK entry's tag is "<table> <constraint>", in the table's schema.
      const owner = [...roots]
        .map((id) => byId.get(id))
        .find((t) => t && t.namespace === e.namespace && e.tag.startsWith(`${t.tag} `));
      return owner ? [`${qualified(owner)} (${e.tag.slice(owner.tag.length + 1)})`] : [];
    });
  const needs = [...roots].flatMap((id) => {
    const t = byId.get(id);
    return (t?.deps ?? [])
      .map((d) => byId.get(d))
      .filter((d): d is TocEntry => d !== undefined && RELATIONS.has(d.desc) && !selected.has(d.dumpId))
      .map((d) => `${qualified(t as TocEntry)} needs ${qualified(d)}`);
  });
  return {
    dumpIds: toc.filter((e) => selected.has(e.dumpId)).map((e) => e.dumpId),
    tables: toc.filter((e) => roots.has(e.dumpId)).map(qualified),
    foreignKeysLeftOut,
    missing,
    needs,
  };
}
