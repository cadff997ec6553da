import { describe, expect, it } from 'vitest';
import { WorkbookFiles } from '../../src/testing/workbook-files.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);

describe('WorkbookFiles', () => {
  it('finds a file added by path under its other names: by item id, any case of its root path', () => {
    const files = new WorkbookFiles();
    files.aliasDrive('/me/drive', 'b!DRIVE');
    const file = files.add('/me/drive/root:/Reports/Q1.xlsx:', undefined, T0);
    expect(file).toMatchObject({
      path: '/me/drive/root:/Reports/Q1.xlsx:',
      driveId: 'b!DRIVE',
      rootPath: '/Reports/Q1.xlsx',
    });
    expect(files.info(`/drives/b!DRIVE/items/${file.itemId}`)).toEqual(file);
    expect(files.info('/drives/b!DRIVE/root:/reports/q1.XLSX:')).toEqual(file);
    expect(files.keyOf(`/drives/b!DRIVE/items/${file.itemId}`)).toBe(file.path);
    expect(files.byKey(file.path)?.createdAt).toBe(new Date(T0).toISOString());
  });

  it('refuses a second file under any name of the first, and bad names', () => {
    const files = new WorkbookFiles();
    files.add('/me/drive/items/01A', undefined, T0);
    expect(() => files.add('/me/drive/root:/01A.xlsx:', undefined, T0)).toThrow(/already exists/);
    expect(() => files.aliasDrive('/me', 'x')).toThrow(TypeError);
    expect(() => files.aliasDrive('/me/drive', 'a b')).toThrow(TypeError);
    expect(() => files.data('/me/drive/items/NONE')).toThrow(RangeError);
    expect(files.keyOrSelf('https://evil/x')).toBe('https://evil/x');
    expect(files.info('/me/drive/items/NONE')).toBeUndefined();
  });
});
