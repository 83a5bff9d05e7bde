import { describe, expect, it } from 'vitest';
import { canonicalText, diffFingerprints, fingerprintOf } from '../../../task/core/fingerprint.ts';

const backup = fingerprintOf({
  'role app_ro': { login: 'false', inherit: 'true' },
  'schema sales': { owner: 'app_owner', acl: '{app_owner=UC/app_owner,app_ro=U/app_owner}' },
  'table sales."order items"': {
    owner: 'app_owner',
    acl: '{app_owner=arwdDxt/app_owner}',
    'row security': 'on',
  },
});

describe('catalog fingerprint', () => {
  it('has the same digest whatever order objects and properties come in', () => {
    const reordered = fingerprintOf({
      'table sales."order items"': {
        'row security': 'on',
        acl: '{app_owner=arwdDxt/app_owner}',
        owner: 'app_owner',
      },
      'schema sales': { acl: '{app_owner=UC/app_owner,app_ro=U/app_owner}', owner: 'app_owner' },
      'role app_ro': { inherit: 'true', login: 'false' },
    });
    expect(reordered.sha256).toBe(backup.sha256);
    expect(diffFingerprints(backup, reordered)).toEqual([]);
  });

  it('keeps names with newlines, quotes and "=" apart in its canonical text', () => {
    const a = canonicalText({ 'table a': { 'x=y': 'z' } });
    const b = canonicalText({ 'table a': { x: 'y=z' } });
    expect(a).not.toBe(b);
    expect(canonicalText({ 'table "a\nb"': {} }).split('\n')).toHaveLength(2);
  });

  it.each<[string, Record<string, Record<string, string>>, string[]]>([
    [
      'a changed owner',
      { 'schema sales': { ...backup.objects['schema sales'], owner: 'postgres' } },
      ['schema sales: owner is postgres, the backup has app_owner'],
    ],
    ['a missing object', { 'role app_ro': undefined as never }, ['role app_ro is missing']],
    [
      'an object the backup does not have',
      { 'role intruder': { login: 'true' } },
      ['role intruder is not in the backup'],
    ],
    [
      'a property gone and one changed',
      { 'table sales."order items"': { owner: 'app_owner', 'row security': 'off' } },
      [
        'table sales."order items": acl is (none), the backup has {app_owner=arwdDxt/app_owner}; row security is off, the backup has on',
      ],
    ],
  ])('names %s', (_, change, expected) => {
    const objects: Record<string, Record<string, string>> = { ...backup.objects, ...change };
    for (const [name, props] of Object.entries(objects)) if (props === undefined) delete objects[name];
    expect(diffFingerprints(backup, fingerprintOf(objects))).toEqual(expected);
  });

  it('names a backup fingerprint whose details were altered after its digest was taken', () => {
    const tampered = {
      ...backup,
      objects: { ...backup.objects, 'role app_ro': { login: 'true', inherit: 'true' } },
    };
    const restored = fingerprintOf(tampered.objects);
    expect(diffFingerprints(tampered, restored)).toEqual([
      "the backup's fingerprint digest does not match its own details (the manifest was altered)",
    ]);
  });

  it('refuses to compare fingerprints of different versions', () => {
    expect(diffFingerprints({ ...backup, version: 99 }, backup)).toEqual([
      expect.stringMatching(/version 99.*cannot be compared/),
    ]);
  });
});
