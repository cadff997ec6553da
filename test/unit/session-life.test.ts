import { describe, expect, test } from 'vitest';
import {
  afterFault,
  closeReasonAfter,
  endFor,
  idOf,
  mayReopen,
  reasonOf,
  reopenOf,
  stateOf,
  type Reopen,
  type SessionLife,
} from '../../src/session/life.js';
import type { CloseReason } from '../../src/types.js';

const done = Promise.resolve();
const reopen: Reopen = { done, closeAfter: undefined };
const ended = (reason: CloseReason, outcome: 'closed' | 'expired' | 'ended' | 'close-failed' | 'handed-over') =>
  ({ phase: 'ended', id: 'S1', reason, outcome, done }) as const satisfies SessionLife;

describe('what a handle shows of its life', () => {
  test('a reopen shows as opening with the previous id and reason; every end shows as closed', () => {
    const reopening: SessionLife = { phase: 'reopening', previousId: 'S0', previous: 'idle', reopen };
    expect([stateOf(reopening), idOf(reopening), reasonOf(reopening)]).toEqual(['opening', 'S0', 'idle']);
    expect([stateOf({ phase: 'opening' }), idOf({ phase: 'opening' })]).toEqual(['opening', '']);
    expect([stateOf({ phase: 'open', id: 'S1' }), reasonOf({ phase: 'open', id: 'S1' })]).toEqual(['open', undefined]);
    for (const outcome of ['closed', 'expired', 'ended', 'close-failed', 'handed-over'] as const) {
      expect(stateOf(ended('disposed', outcome))).toBe('closed');
    }
  });

  test('calls wait for a reopen while it runs and while the manager takes its session in, not after', () => {
    expect(reopenOf({ phase: 'reopening', previousId: 'S0', previous: 'idle', reopen })).toBe(reopen);
    expect(reopenOf({ phase: 'open', id: 'S1', reopen })).toBe(reopen);
    expect(reopenOf({ phase: 'open', id: 'S1' })).toBeUndefined();
    expect(reopenOf(ended('idle', 'closed'))).toBeUndefined();
  });
});

describe('mayReopen', () => {
  test('only a persistent session that went idle or expired, not closed by its user, with no failed close', () => {
    expect(mayReopen(ended('idle', 'closed'), true, false)).toBe(true);
    expect(mayReopen(ended('expired', 'expired'), true, false)).toBe(true);
    expect(mayReopen(ended('expired', 'handed-over'), true, false)).toBe(true);
    expect(mayReopen(ended('idle', 'closed'), false, false)).toBe(false);
    expect(mayReopen(ended('idle', 'closed'), true, true)).toBe(false);
    expect(mayReopen(ended('idle', 'close-failed'), true, false)).toBe(false);
    for (const reason of ['disposed', 'shutdown', 'failed'] as const) {
      expect(mayReopen(ended(reason, 'closed'), true, false)).toBe(false);
    }
    expect(mayReopen({ phase: 'open', id: 'S1' }, true, false)).toBe(false);
  });
});

describe('closeReasonAfter', () => {
  test('an idle end joined by a user close counts as the user’s; other reasons stay', () => {
    expect(closeReasonAfter(ended('idle', 'close-failed'), 'disposed')).toBe('disposed');
    expect(closeReasonAfter(ended('idle', 'close-failed'), 'idle')).toBe('idle');
    expect(closeReasonAfter(ended('expired', 'close-failed'), 'shutdown')).toBe('expired');
    expect(closeReasonAfter({ phase: 'open', id: 'S1' }, 'idle')).toBe('idle');
  });
});

describe('endFor', () => {
  test('a confirmed gone session is expired and owes no close; any other fault hands it over', () => {
    expect(endFor('confirmed-gone', 0, 3)).toEqual({ reason: 'expired', outcome: 'expired' });
    expect(endFor('gone', 0, 3)).toEqual({ reason: 'expired', outcome: 'handed-over' });
    expect(endFor('faulted', 2, 3)).toEqual({ reason: 'expired', outcome: 'handed-over' });
  });

  test('Graph ending it, or the bound on recreating reached, ends the handle as failed', () => {
    expect(endFor('ended', 0, 3)).toEqual({ reason: 'failed', outcome: 'handed-over' });
    expect(endFor('gone', 3, 3)).toEqual({ reason: 'failed', outcome: 'handed-over' });
    expect(endFor('confirmed-gone', 3, 3)).toEqual({ reason: 'failed', outcome: 'ended' });
  });
});

describe('afterFault', () => {
  const base = {
    fault: 'gone',
    current: true,
    persistChanges: true,
    mayGoOn: true,
    idempotent: true,
    replayed: false,
    final: false,
  } as const;

  test('a persistent handle replays an idempotent call once in a new session', () => {
    expect(afterFault(base)).toBe('replay');
    expect(afterFault({ ...base, replayed: true })).toBe('rethrow');
    expect(afterFault({ ...base, final: true })).toBe('rethrow');
  });

  test('a call that may have been applied is never sent twice', () => {
    expect(afterFault({ ...base, fault: 'faulted', idempotent: false })).toBe('outcome-unknown');
    expect(afterFault({ ...base, fault: 'faulted', idempotent: true })).toBe('replay');
    // Gone means not applied: safe to send again.
    expect(afterFault({ ...base, fault: 'gone', idempotent: false })).toBe('replay');
  });

  test('a session Graph ended is never gone on from; a non-persistent one says its changes are lost', () => {
    expect(afterFault({ ...base, fault: 'ended' })).toBe('rethrow');
    expect(afterFault({ ...base, persistChanges: false })).toBe('expired');
    expect(afterFault({ ...base, persistChanges: false, current: false })).toBe('expired');
  });

  test('during a shutdown the handle that gave its session up may not go on', () => {
    expect(afterFault({ ...base, mayGoOn: false })).toBe('closed');
    // Another call gave the session up: this one goes on in the session it made, if any.
    expect(afterFault({ ...base, current: false, mayGoOn: false })).toBe('replay');
  });
});
