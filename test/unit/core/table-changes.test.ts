import { describe, expect, it } from 'vitest';
import {
  compareTables,
  describeShrunkTables,
  lostMoreThan,
  shrunkTables,
} from '../../../task/core/table-changes.ts';

const t = (name: string, rows: number) => {
  const [schema = '', table = ''] = name.split('.');
  return { schema, table, rows };
};

describe('compareTables', () => {
  it('finds tables added and removed and row counts changed, the largest change first', () => {
    const before = [t('public.a', 100), t('public.b', 10), t('public.gone', 7), t('x.c', 5)];
    const after = [t('public.a', 40), t('public.b', 30), t('public.new', 3), t('x.c', 5)];

    expect(compareTables(before, after)).toEqual({
      added: [t('public.new', 3)],
      removed: [t('public.gone', 7)],
      changed: [
        { schema: 'public', table: 'a', before: 100, after: 40, change: -60, percent: -60 },
        { schema: 'public', table: 'b', before: 10, after: 30, change: 20, percent: 200 },
      ],
    });
  });

  it('gives no percentage for a table that grew from empty', () => {
    expect(compareTables([t('public.a', 0)], [t('public.a', 3)]).changed[0]?.percent).toBeNull();
  });
});

describe('shrunkTables', () => {
  it('counts a removed table as having lost every row, most rows lost first', () => {
    const changes = compareTables(
      [t('public.a', 100), t('public.gone', 500), t('public.empty', 0), t('public.up', 1)],
      [t('public.a', 99), t('public.up', 2)],
    );

    expect(shrunkTables(changes).map((c) => [`${c.schema}.${c.table}`, c.change, c.percent])).toEqual([
      ['public.gone', -500, -100],
      ['public.a', -1, -1],
    ]);
  });

  it.each([
    [50, ['public.a', 'public.gone']],
    [60.9, ['public.a', 'public.gone']],
    [61, ['public.gone']],
    [100, []],
  ])('reports the tables that lost more than %s%% of their rows', (percent, expected) => {
    const changes = compareTables([t('public.a', 100), t('public.gone', 5)], [t('public.a', 39)]);

    expect(lostMoreThan(changes, percent).map((c) => `${c.schema}.${c.table}`)).toEqual(expected);
  });
});

describe('describeShrunkTables', () => {
  it('names the three that shrank most and counts the rest', () => {
    const changes = compareTables(
      [t('s.a', 4000), t('s.b', 300), t('s.c', 20), t('s.d', 1)],
      [t('s.a', 0), t('s.b', 150), t('s.d', 0)],
    );

    expect(describeShrunkTables(changes, 'daily/app/20261125T020000Z')).toBe(
      'tables that shrank most since daily/app/20261125T020000Z: s.a 4,000 → 0 rows (-100%), s.b 300 → 150 rows (-50%), s.c removed (had 20 rows) and 1 more',
    );
  });

  it('says nothing when no table shrank', () => {
    expect(describeShrunkTables(compareTables([t('s.a', 1)], [t('s.a', 2)]), 'x')).toBe('');
  });
});
