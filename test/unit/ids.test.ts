import { describe, expect, test } from 'vitest';
import { shortId } from '../../src/util/ids.js';

describe('shortId', () => {
  test('a short id is shown whole; a long one by its head and tail', () => {
    expect(shortId('abc-123')).toBe('abc-123');
    expect(shortId('0123456789abcdefXYZW')).toBe('012345…XYZW');
  });

  test('the tail is taken before the base64 padding, plain or URL-encoded, so two sessions stay apart', () => {
    const a = 'cluster=PUS7&session=15.SN3PEPF00001.A82.1.V24.q8Rt0aZ9%2FkLm3Np7Q==';
    const b = 'cluster=PUS7&session=15.SN3PEPF00001.A82.1.V24.q8Rt0aZ9%2FkLm3Xy5Q==';
    expect(shortId(a)).toBe('cluste…Np7Q');
    expect(shortId(b)).toBe('cluste…Xy5Q');
    expect(shortId('cluster=PUS7&session=15.SN3PEPF00001.A82.1.V24.q8Rt0aZ9Wv%3d%3D')).toBe('cluste…Z9Wv');
    // An id that is almost all padding keeps its real tail.
    expect(shortId('ab==========')).toBe('ab==========');
    expect(shortId('abc=============')).toBe('abc===…====');
  });

  test('characters that would break a log line are shown escaped', () => {
    expect(shortId('a\nb')).toBe('a\\u000ab');
  });
});
