"""Sign-in throttling that slows attackers without letting them lock the owner out (README, "Sign-in and
throttling"; OWASP ASVS 5.0 V6.3.1, NIST SP 800-63B 5.2.2).

Four rules, all decided and counted in one short transaction *before* the password is checked, so that
parallel attempts cannot check more passwords than the rules allow:

- per user name (whether or not the account exists, so the answers never reveal which names are real): the
  first FREE_ATTEMPTS failures cost nothing, then each attempt waits 2, 4, 8 ... seconds after the last
  failure, at most MAX_DELAY;
- per client (when the caller knows the client's address): at most CLIENT_LIMIT failures per CLIENT_WINDOW,
  whatever the names tried;
- a remembered device (a token the app stored after an earlier successful sign-in of that user) skips both,
  so an attacker elsewhere cannot keep the owner out; a token that fails DEVICE_FAILURES times in a row stops
  counting as recognised;
- after CEILING consecutive failures of a name, only remembered devices may try it, until a successful
  sign-in, an administrator's password reset, or RESET_AFTER without failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .storage import throttle as throttle_sql
from .storage.throttle import Counter

FREE_ATTEMPTS = 5
MAX_DELAY = timedelta(minutes=15)
CEILING = 100  # NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account
CLIENT_LIMIT = 30
CLIENT_WINDOW = timedelta(minutes=15)
DEVICE_FAILURES = 5
DEVICE_LIFETIME = timedelta(days=90)  # unused this long, a remembered device is forgotten
RESET_AFTER = timedelta(hours=24)  # a name's failures are forgotten after this long without one


@dataclass(frozen=True)
class Decision:
    """Whether this attempt's password may be checked; if not, how long to wait (None: not by waiting)."""

    allowed: bool
    via_device: bool = False
    retry_after: timedelta | None = timedelta(0)


def name_key(username: str) -> str:
    return "name:" + username


def client_key(client: str) -> str:
    return "client:" + client


def delay(failures: int) -> timedelta:
    """Wait after the last failure before the next attempt is checked: none for the first few, then doubling."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    exponent = min(failures - FREE_ATTEMPTS + 1, 20)  # 2**20 s is far above the cap; avoids overflow
    return min(timedelta(seconds=2**exponent), MAX_DELAY)


def _current(c: Counter | None, at: datetime, period: timedelta, since_first: bool) -> int:
    """Failures that still count at `at`: a counter whose period has passed counts as none."""
    if c is None:
        return 0
    start = c.first_failed_at if since_first else c.last_failed_at
    return 0 if start is None or at - start >= period else c.failures


def claim(cur, *, username: str, client: str | None, device_hash: str | None, at: datetime) -> Decision:
    """Decide one attempt and count it as a failure up front (a success clears it afterwards).

    Runs inside a transaction; every counter moves with a conditional update from the state it was read
    in, so two attempts at once can never both use the last free slot.
    """
    dev = throttle_sql.device(cur, device_hash) if device_hash else None
    if dev is not None and dev.username == username and dev.failures < DEVICE_FAILURES \
            and at - dev.last_used_at < DEVICE_LIFETIME:
        if not throttle_sql.claim_device(cur, dev):
            raise Contended
        return Decision(True, via_device=True)
    name = throttle_sql.counter(cur, name_key(username))
    failed = _current(name, at, RESET_AFTER, since_first=False)
    if failed >= CEILING:
        return Decision(False, retry_after=None)
    # A count above zero comes from a stored counter with its times (_current): the narrowing says so.
    wait = name.last_failed_at + delay(failed) - at if name and name.last_failed_at and failed else timedelta(0)
    peer = throttle_sql.counter(cur, client_key(client)) if client else None
    from_peer = _current(peer, at, CLIENT_WINDOW, since_first=True)
    if from_peer >= CLIENT_LIMIT and peer and peer.first_failed_at:
        wait = max(wait, peer.first_failed_at + CLIENT_WINDOW - at)
    if wait > timedelta(0):
        return Decision(False, retry_after=wait)
    counted = [(name, Counter(name_key(username), failed + 1, name.first_failed_at if name and failed else at, at))]
    if client:
        counted.append((peer, Counter(client_key(client), from_peer + 1,
                                      peer.first_failed_at if peer and from_peer else at, at)))
    for seen, new in counted:
        if not throttle_sql.claim(cur, seen, new):
            # Only reachable if the backend let a concurrent change through; never check twice.
            raise Contended
    return Decision(True)


class Contended(Exception):  # noqa: N818 - a signal between claim and login, never shown
    """Raised inside the claim transaction so it rolls back; login turns it into a short wait."""


def succeeded(cur, *, username: str, device_hash: str | None, via_device: bool, at: datetime) -> None:
    """A successful sign-in: the device's failures are cleared; a sign-in by password alone also clears the
    name's (a remembered device does not, or every sign-in of the owner would give an attacker elsewhere
    FREE_ATTEMPTS new guesses). Counters past their period are purged here."""
    if via_device and device_hash:
        throttle_sql.device_succeeded(cur, device_hash, at)
    else:
        throttle_sql.clear(cur, name_key(username))
    throttle_sql.purge(cur, at - max(RESET_AFTER, CLIENT_WINDOW))
    throttle_sql.purge_devices(cur, at - DEVICE_LIFETIME)


def reset(cur, username: str) -> None:
    """An administrator reset the password: the name may be tried from anywhere again."""
    throttle_sql.clear(cur, name_key(username))
