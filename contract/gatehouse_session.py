#!/usr/bin/env python3
"""Reads and checks Gatehouse sessions in Redis, the way another service would.

Python 3.8+ standard library only, and none of Gatehouse's code: it follows
docs/session-contract.md and nothing else, so it is both a reader you can copy and
a check that the contract and the service agree.

    gatehouse_session.py read  <token> [audience]   prints user_id and role of the token's live session
    gatehouse_session.py check <token>              checks every documented key and field of that session

The token may also come on stdin ("-"). `audience` is what the request names in JWT-Aud, for a
token bound to a client at login. Environment:
    REDIS_URL            redis://[:password@]host:port[/db] or rediss://... (default redis://127.0.0.1:6379)
    REDIS_KEY_PREFIX     default "gatehouse:"
    JWT_SECRET           the HS256 secret (this reader verifies HS256 only; for EdDSA/RS256 use a
                         JOSE library and the service's /.well-known/jwks.json)
    JWT_PREVIOUS_SECRETS older HS256 secrets, comma-separated, during a rotation
    JWT_ISSUER           the deployment's issuer, the token's iss (default "gatehouse")
    JWT_ACCEPT_UNTYPED   "false" once untyped tokens from before (typ JWT, no iss) are refused (default "true")
    SESSION_TTL_SECONDS  the deployment's default TTL, used when <prefix>config sets none (default 1200)
    SESSION_MAX_AGE_SECONDS  the deployment's absolute lifetime; a TTL in <prefix>config above it
                         is ignored, as Gatehouse ignores it (default 2592000)

Exit codes: 0 live session (read) / layout as documented (check); 1 no live session (read prints
"not live: <reason>" on stderr, the reasons of docs/session-contract.md) or a contract violation;
2 bad usage or configuration; 3 Redis could not be read ("unavailable: ..."): whether the session
is live is unknown, which is not the same as "not live" (answer 503, not 401).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import sys
import time
from urllib.parse import unquote, urlparse

LAYOUT_VERSIONS = {"1", "3"}  # "1": moved from an old release, completed (role...) at its next request
EVENT_FORMAT_VERSIONS = {"1"}
TOKEN_TYPE = "gatehouse-session+jwt"
LEGACY_TOKEN_TYPE = "JWT"  # tokens from before tokens were typed: no iss, no aud; accepted until exp
REQUIRED_CLAIMS = ("jti", "user_id", "created_at", "iat", "exp")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")
USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
AUDIENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
DIGITS = re.compile(r"[0-9]{1,16}")  # ASCII only: \d would take other scripts' digits


class NotLive(Exception):
    """The token stands for no live session; args[0] is the reason (docs/session-contract.md)."""


class Redis:
    """Just enough of RESP2 for reading: one connection, commands in, replies out."""

    def __init__(self, url):
        u = urlparse(url)
        if u.scheme not in ("redis", "rediss"):
            raise SystemExit(f"REDIS_URL must start with redis:// or rediss:// (got {url!r})")
        sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=5)
        if u.scheme == "rediss":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=u.hostname)
        self.file = sock.makefile("rwb")
        if u.password:
            self.call("AUTH", *([unquote(u.username)] if u.username else []), unquote(u.password))
        if u.path.strip("/"):
            self.call("SELECT", u.path.strip("/"))

    def call(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.file.write(b"".join(out))
        self.file.flush()
        return self._reply()

    def _reply(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if rest == b"-1":
                return None
            data = self.file.read(int(rest) + 2)[:-2]
            return data.decode()
        if kind == b"*":
            return None if rest == b"-1" else [self._reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply from Redis: {line!r}")

    def hash(self, key):
        flat = self.call("HGETALL", key)
        return dict(zip(flat[::2], flat[1::2]))


B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(part):
    """base64url without padding (RFC 7515), strictly: Python's decoder would skip '=', '+' or '!'."""
    if not B64URL.fullmatch(part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def secret_kid(secret):
    """The kid Gatehouse gives an HS256 secret: an HMAC of a fixed label, 16 characters."""
    digest = hmac.new(secret.encode(), b"gatehouse key id", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:16]


def is_integer(value):
    """A safe integer as JavaScript sees one: JSON's 1.0 is the number 1."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53 - 1


def verify_hs256(token, secrets, issuer, audience=None, accept_untyped=True):
    """The claims of a genuine, current Gatehouse token of this issuer; raises NotLive otherwise.

    secrets: JWT_SECRET first, then JWT_PREVIOUS_SECRETS. The key is picked by kid; a token
    without one (layout 1) is tried against each secret.
    """
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        raise NotLive("invalid_token")
    try:
        # Strict UTF-8 text, as JavaScript's JSON.parse sees it (json.loads of bytes would guess UTF-16).
        header = json.loads(b64url(parts[0]).decode("utf-8"))
        claims = json.loads(b64url(parts[1]).decode("utf-8"))
        signature = b64url(parts[2])
    except ValueError:  # UnicodeDecodeError and JSONDecodeError (a BOM included) are ValueErrors
        raise NotLive("invalid_token")
    # Pinned: never let the token choose the algorithm ("none", or a public key used as a secret).
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise NotLive("invalid_token")
    # No critical extensions are understood, so none may be required (RFC 7515 4.1.11).
    if "crit" in header:
        raise NotLive("invalid_token")
    # A kid picks the secret; a token without one (layout 1) is tried against each. A kid that is
    # there but not a string (null included) names no key.
    if "kid" in header and not isinstance(header["kid"], str):
        raise NotLive("invalid_token")
    kid = header.get("kid")
    candidates = [s for s in secrets if kid is None or secret_kid(s) == kid]
    signed = f"{parts[0]}.{parts[1]}".encode()
    if not any(hmac.compare_digest(hmac.new(s.encode(), signed, hashlib.sha256).digest(), signature) for s in candidates):
        raise NotLive("invalid_token")
    if not isinstance(claims, dict) or any(name not in claims for name in REQUIRED_CLAIMS):
        raise NotLive("invalid_token")
    now = time.time()
    # Time claims must be numbers (JSON has one number type: 1.0 is 1); nbf, if there, must have passed.
    for name in ("exp", "nbf"):
        if name in claims and (not isinstance(claims[name], (int, float)) or isinstance(claims[name], bool)):
            raise NotLive("invalid_token")
    if "nbf" in claims and claims["nbf"] > now:
        raise NotLive("invalid_token")
    if claims["exp"] < now:
        raise NotLive("max_age")  # exp is the session's absolute end
    # Explicitly typed and naming this issuer, or a token from before typing (no iss, no aud).
    if header.get("typ") == TOKEN_TYPE:
        if claims.get("iss") != issuer:
            raise NotLive("invalid_token")
        if "aud" in claims and not (isinstance(claims["aud"], str) and AUDIENCE.fullmatch(claims["aud"])):
            raise NotLive("invalid_token")
    elif not accept_untyped or header.get("typ") != LEGACY_TOKEN_TYPE or "iss" in claims or "aud" in claims:
        raise NotLive("invalid_token")
    if not (isinstance(claims["jti"], str) and SESSION_ID.fullmatch(claims["jti"])):
        raise NotLive("invalid_token")
    # Only the lower-case spelling: another one would name other Redis keys.
    if not (isinstance(claims["user_id"], str) and USER_ID.fullmatch(claims["user_id"])):
        raise NotLive("invalid_token")
    if not all(is_integer(claims[name]) for name in ("created_at", "iat", "exp")):
        raise NotLive("invalid_token")
    # A token bound to a client at login is good only with that client's name beside it.
    if "aud" in claims and claims["aud"] != audience:
        raise NotLive("wrong_audience")
    return claims


def redis_now_ms(redis):
    seconds, micros = redis.call("TIME")
    return int(seconds) * 1000 + int(micros) // 1000


def integer(value):
    """A field written as an integer, or None (missing or malformed)."""
    return int(value) if value is not None and DIGITS.fullmatch(value) else None


def ttl_in_force_ms(redis, prefix):
    """<prefix>config's session_ttl_seconds when it holds a valid TTL, else the deployment's default."""
    value = redis.call("HGET", f"{prefix}config", "session_ttl_seconds")
    default = int(os.environ.get("SESSION_TTL_SECONDS", "1200"))
    max_age = int(os.environ.get("SESSION_MAX_AGE_SECONDS", str(30 * 24 * 3600)))
    valid = value is not None and re.fullmatch(r"[0-9]{1,9}", value) and 1 <= int(value) <= max_age
    return (int(value) if valid else default) * 1000


def session_generation(session):
    """The session's generation; one written before the field existed counts from its creation (us)."""
    generation = integer(session.get("generation"))
    return generation if generation is not None else (integer(session.get("created_at")) or 0) * 1000


def live_session(redis, prefix, claims):
    """The session hash if the session is live by the contract's rules; raises NotLive otherwise."""
    # Layout 3: the user's id is the key's hash tag (Redis Cluster keeps a user's keys in one slot).
    user_id, jti = claims["user_id"], claims["jti"]
    key = f"{prefix}sess:{{{user_id}}}:{jti}"
    session = redis.hash(key)
    if not session:
        raise NotLive("no_session")  # missing key: logged out, revoked, expired, or lost with Redis
    if session.get("v") not in LAYOUT_VERSIONS:
        raise NotLive("unknown_version")  # the layout changed: fail closed and upgrade this reader
    # A key without a TTL was recreated by a stray write after the session ended: not a session.
    max_expires_at = integer(session.get("max_expires_at"))
    if session.get("user_id") != user_id or max_expires_at is None or redis.call("PTTL", key) <= 0:
        raise NotLive("no_session")
    cutoff_text = redis.call("GET", f"{prefix}user:{{{user_id}}}:cutoff")
    # None: no revoke-all yet. One that is not an integer (written by hand) ends every session.
    cutoff = 0 if cutoff_text is None else integer(cutoff_text)
    if cutoff is None or (cutoff > 0 and session_generation(session) < cutoff):
        raise NotLive("revoked")  # a revoke-all ended it; Gatehouse is deleting its keys
    now = redis_now_ms(redis)
    if max_expires_at <= now:
        raise NotLive("max_age")
    # Gatehouse always writes last_seen_at; one that is missing or not an integer is taken as idle.
    last_seen_at = integer(session.get("last_seen_at"))
    if last_seen_at is None or now - last_seen_at > ttl_in_force_ms(redis, prefix):
        raise NotLive("idle")  # idle longer than a TTL ops shortened; Gatehouse ends it at its next request
    return session


def read(redis, prefix, claims):
    session = live_session(redis, prefix, claims)
    role = session.get("role", "") if session.get("v") != "1" else ""
    print(f"user_id={session['user_id']} role={role}")
    return 0


def check(redis, prefix, claims):
    """Every statement of docs/session-contract.md about one live session, checked with plain commands."""
    failures = []

    def expect(condition, what):
        print(f"{'ok  ' if condition else 'FAIL'} {what}")
        if not condition:
            failures.append(what)

    jti, user_id = claims["jti"], claims["user_id"]
    key, index, owner = f"{prefix}sess:{{{user_id}}}:{jti}", f"{prefix}user:{{{user_id}}}:sessions", f"{prefix}owner:{{{user_id}}}:{jti}"
    ms = re.compile(r"^\d{13}$")

    expect(re.fullmatch(r"[A-Za-z0-9_-]{22}", jti) is not None, "jti is 22 base64url characters")
    expect(redis.call("TYPE", key) == "hash", f"{key} is a hash")
    session = redis.hash(key)
    expect(session.get("v") == "3", "v is 3")
    documented = {"v", "user_id", "role", "created_at", "last_seen_at", "max_expires_at", "client", "user_agent", "ip", "email", "user_created_at", "generation"}
    expect(set(session) == documented, f"fields are exactly {sorted(documented)} (got {sorted(session)})")
    expect(re.fullmatch(r"[^@\s]+@[^@\s]+", session.get("email", "")) is not None, "email is an address")
    expect(ms.match(session.get("user_created_at", "")) is not None, "user_created_at is integer Unix ms")
    expect(session.get("user_created_at", "") <= session.get("created_at", ""), "and no later than the session's created_at")
    expect(session.get("user_id") == user_id, "user_id equals the token's user_id")
    generation = session.get("generation", "")
    expect(re.fullmatch(r"0|[1-9]\d{0,15}", generation) is not None, "generation is an integer (0, or Unix us)")
    cutoff = redis.call("GET", f"{prefix}user:{{{user_id}}}:cutoff")
    expect(cutoff is None or re.fullmatch(r"[1-9]\d{0,15}", cutoff) is not None, "the user's cutoff is absent or Unix us")
    if cutoff is not None and generation.isdigit() and cutoff.isdigit():
        expect(int(generation) >= int(cutoff), "the session's generation is not below the user's cutoff (it was not revoked)")
    expect(session.get("role") in ("user", "admin"), "role is user or admin")
    for field in ("created_at", "last_seen_at", "max_expires_at"):
        expect(ms.match(session.get(field, "")) is not None, f"{field} is integer Unix ms")
    expect(session.get("created_at") == str(claims.get("created_at")), "created_at equals the token's created_at")
    expect(session.get("max_expires_at") == str(claims["exp"] * 1000), "max_expires_at equals the token's exp * 1000")
    expect(re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9 ._()/-]{0,63})?", session.get("client", "")) is not None, "client is empty or a label")
    expect(len(session.get("user_agent", "")) <= 256, "user_agent is at most 256 characters")

    expiry = redis.call("PEXPIRETIME", key)
    now = redis_now_ms(redis)
    expect(expiry > now, "the key has a TTL in the future")
    expect(expiry <= int(session.get("max_expires_at", 0)), "it never reaches past max_expires_at")
    expect(expiry - int(session.get("last_seen_at", 0)) <= ttl_in_force_ms(redis, prefix), "it is at most last_seen_at + the TTL in force")

    expect(redis.call("TYPE", index) == "zset", f"{index} is a sorted set")
    score = redis.call("ZSCORE", index, jti)
    expect(score is not None and int(float(score)) == expiry, "the index score is the session's PEXPIRETIME")
    expect(redis.call("PEXPIRETIME", index) >= expiry, "the index lives as long as its longest session")

    expect(redis.call("GET", owner) == user_id, f"{owner} names the user")
    expect(redis.call("PEXPIRETIME", owner) > int(session.get("max_expires_at", 0)), "and outlives the session's absolute end")

    config = redis.hash(f"{prefix}config")
    ttl = config.get("session_ttl_seconds")
    expect(ttl is None or (ttl.isdigit() and int(ttl) > 0), "config session_ttl_seconds is absent or a positive integer")

    events = f"{prefix}events"
    expect(redis.call("TYPE", events) == "stream", f"{events} is a stream")
    entries = redis.call("XRANGE", events, "-", "+")
    mine = [dict(zip(fields[::2], fields[1::2])) for _, fields in entries]
    mine = [e for e in mine if e.get("session_id") == jti]
    expect(any(e.get("type") == "created" for e in mine), "the stream holds the session's created event")
    for event in mine:
        expect(event.get("v") in EVENT_FORMAT_VERSIONS and set(event) == {"v", "type", "session_id", "user_id", "reason"}, f"event {event.get('type')} has exactly v, type, session_id, user_id, reason")
        expect(event.get("user_id") == user_id, f"event {event.get('type')} names the user")

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def main(argv):
    if not (argv[:1] == ["read"] and len(argv) in (2, 3) or argv[:1] == ["check"] and len(argv) == 2):
        print(__doc__, file=sys.stderr)
        return 2
    secret = os.environ.get("JWT_SECRET")
    if not secret:
        print("JWT_SECRET is required to verify the token", file=sys.stderr)
        return 2
    secrets = [secret] + [s.strip() for s in os.environ.get("JWT_PREVIOUS_SECRETS", "").split(",") if s.strip()]
    token = sys.stdin.read().strip() if argv[1] == "-" else argv[1]
    try:
        accept_untyped = os.environ.get("JWT_ACCEPT_UNTYPED", "true")
        if accept_untyped not in ("true", "false"):
            print("JWT_ACCEPT_UNTYPED must be true or false, as Gatehouse's", file=sys.stderr)
            return 2
        accept_untyped = accept_untyped == "true"
        claims = verify_hs256(token, secrets, os.environ.get("JWT_ISSUER", "gatehouse"), argv[2] if len(argv) == 3 else None, accept_untyped)
        redis = Redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
        prefix = os.environ.get("REDIS_KEY_PREFIX", "gatehouse:")
        return (read if argv[0] == "read" else check)(redis, prefix, claims)
    except NotLive as not_live:
        print(f"not live: {not_live.args[0]}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as err:  # connection refused or reset, a time-out, a Redis error reply
        print(f"unavailable: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
