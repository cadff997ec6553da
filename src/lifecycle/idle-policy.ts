/** What the idle and keep-alive policy reads of one session. */
export interface IdleClocks {
  /** The session is open (closing, closed or reopening sessions are not the reaper's). */
  readonly open: boolean;
  /** Calls running or queued through it: a busy session is not idle. */
  readonly inFlight: number;
  /** Leases held on it (a shared session): a held session is not idle, but is still kept alive. */
  readonly leases: number;
  /** When its last call answered, or it opened (epoch ms). */
  readonly lastActivity: number;
  /** When Graph last heard from it (epoch ms). */
  readonly lastContact: number;
}

export interface IdlePolicy {
  readonly idleTimeoutMs: number;
  readonly keepAlive: boolean;
  readonly keepAliveIntervalMs: number;
}

/** What to do with a session when the reaper's timer reaches it. */
export type IdleDecision =
  /** Not open: the reaper lets go of it. */
  | { readonly action: 'forget' }
  /** Idle past its deadline: close it (reason `idle`). */
  | { readonly action: 'close' }
  /** Graph would forget it before its idle deadline: refresh it now, look again at `next`. */
  | { readonly action: 'refresh'; readonly next: number }
  /** Nothing to do yet: look again at `next`. */
  | { readonly action: 'wait'; readonly next: number };

/**
 * When the reaper should next look at a session: its idle deadline or its keep-alive, whichever is
 * first. A held session has no idle deadline: it is looked at again an idle timeout from `now`.
 */
export function nextDue(clocks: IdleClocks, policy: IdlePolicy, now: number = clocks.lastActivity): number {
  const idle = clocks.leases > 0 ? now + policy.idleTimeoutMs : clocks.lastActivity + policy.idleTimeoutMs;
  const refresh = policy.keepAlive ? clocks.lastContact + policy.keepAliveIntervalMs : Infinity;
  return Math.min(idle, refresh);
}

/** The idle and keep-alive decision for one session at `now`. Pure. */
export function decide(clocks: IdleClocks, policy: IdlePolicy, now: number): IdleDecision {
  if (!clocks.open) return { action: 'forget' };
  if (clocks.inFlight > 0) {
    // Busy: not idle. Look again after the shorter of the two clocks (the keep-alive must go on).
    const step = Math.min(policy.idleTimeoutMs, policy.keepAlive ? policy.keepAliveIntervalMs : Infinity);
    return { action: 'wait', next: now + step };
  }
  const held = clocks.leases > 0;
  if (!held && now >= clocks.lastActivity + policy.idleTimeoutMs) return { action: 'close' };
  if (policy.keepAlive && now >= clocks.lastContact + policy.keepAliveIntervalMs) {
    return { action: 'refresh', next: nextDue({ ...clocks, lastContact: now }, policy, now) };
  }
  return { action: 'wait', next: nextDue(clocks, policy, now) };
}
