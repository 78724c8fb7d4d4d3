#!/usr/bin/env python3
"""Reads and checks Gatehouse sessions in Redis, the way another service would.

Python 3.8+ standard library only, and none of Gatehouse's code: it follows
docs/session-contract.md and nothing else, so it is both a reader you can copy and
a check that the contract and the service agree.

    gatehouse_session.py read  <token> [audience]   prints user_id and role of the token's live session
    gatehouse_session.py check <token> [audience]   checks every documented key and field of that session

The token may also come on stdin ("-"). `audience` is what the request names in JWT-Aud, for a
token bound to a client at login. Environment:
    REDIS_URL            redis://[:password@]host:port[/db] or rediss://... (default redis://127.0.0.1:6379)
    REDIS_KEY_PREFIX     default "gatehouse:"
    JWT_JWKS             the deployment's public keys: the JSON text of a JWK Set (RFC 7517), as
                         Gatehouse serves it at /.well-known/jwks.json. An Ed25519 key verifies EdDSA
                         tokens, an RSA key of 2048 bits or more RS256 tokens, each picked by the
                         token's kid. JWKs with private members (d, p, q, dp, dq, qi, oth, k) or a use
                         other than "sig" are skipped.
    JWT_JWKS_URL         or where to fetch that JWK Set, once per run: https:, or http: to a loopback
                         host (127.0.0.0/8, ::1, localhost) unless GATEHOUSE_ENV or NODE_ENV is
                         "production"; 5 s and 64 KB at most, no redirects. One of the two, not both.
    JWT_UNSAFE_SHARED_SECRETS  "true" to also accept HS256 tokens by JWT_SECRET/JWT_PREVIOUS_SECRETS.
                         Unsafe: whoever holds a shared secret can sign a token for any session, so
                         every service given it can act as any user. Only for a deployment that
                         still signs with a secret; JWT_SECRET without it is refused (exit 2).
    JWT_SECRET           the HS256 secret (with JWT_UNSAFE_SHARED_SECRETS=true only)
    JWT_PREVIOUS_SECRETS older HS256 secrets, comma-separated, during a rotation (likewise)
    JWT_ISSUER           the deployment's issuer, the token's iss (default "gatehouse")
    JWT_ACCEPT_UNTYPED   "false" once untyped tokens from before (typ JWT, no iss) are refused (default
                         "true"; even then only until <prefix>config's untyped_tokens_until, Unix ms)
    SESSION_TTL_SECONDS  the deployment's default TTL, used when <prefix>config sets none (default 1200)
    SESSION_MAX_AGE_SECONDS  the deployment's absolute lifetime; a TTL in <prefix>config above it
                         is ignored, as Gatehouse ignores it (default 2592000)
At least one of JWT_JWKS, JWT_JWKS_URL or the unsafe shared secrets is required.

Exit codes: 0 live session (read) / layout as documented (check); 1 no live session (read prints
"not live: <reason>" on stderr, the reasons of docs/session-contract.md, and " cause=<cause>" after
"revoked" when what revoked it is known: "not live: revoked cause=password_changed") or a contract violation;
2 bad usage or configuration; 3 Redis or JWT_JWKS_URL could not be read ("unavailable: ..."):
whether the session is live is unknown, which is not the same as "not live" (answer 503, not 401).
"""

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.request
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
SECONDS = re.compile(r"[0-9]{1,9}")
# What may have revoked a session (docs/session-contract.md, "Why a session ended"); a stored value
# that is not one of these is no cause.
REVOKED_CAUSES = {"signed_out_elsewhere", "password_changed", "password_reset", "role_changed", "admin",
                  "session_limit", "account_deleted", "client_ended"}


class NotLive(Exception):
    """The token stands for no live session; args[0] is the reason (docs/session-contract.md),
    args[1] (with "revoked" only) what revoked it, when that is known."""

    def __init__(self, reason, cause=None):
        super().__init__(reason, cause)
        self.reason, self.cause = reason, cause


def revoked(cause):
    return NotLive("revoked", cause if cause in REVOKED_CAUSES else None)


class ConfigError(Exception):
    """Bad usage or configuration (exit 2)."""


class Unavailable(Exception):
    """Redis or the JWKS could not be read (exit 3): liveness unknown."""


class Redis:
    """Just enough of RESP2 for reading: one connection, commands in, replies out."""

    def __init__(self, url):
        u = urlparse(url)
        if u.scheme not in ("redis", "rediss"):
            raise ConfigError(f"REDIS_URL must start with redis:// or rediss:// (got {url!r})")
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

    def pipeline(self, *commands):
        """Several commands in one round trip; their replies in order (the first error reply raised)."""
        out = []
        for args in commands:
            out.append(f"*{len(args)}\r\n".encode())
            for arg in args:
                data = str(arg).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.file.write(b"".join(out))
        self.file.flush()
        replies = []
        for _ in commands:
            try:
                replies.append(self._reply())
            except RuntimeError as err:  # read every reply before raising: the connection stays in step
                replies.append(err)
        for reply in replies:
            if isinstance(reply, RuntimeError):
                raise reply
        return replies

    def _reply(self):
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise RuntimeError("Redis closed the connection")
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
            return data.decode("utf-8", "surrogateescape")  # stray bytes just match nothing
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


def no_constant(name):
    raise ValueError(f"{name} is not JSON")


def strict_json(text):
    """RFC 8259 JSON as JavaScript's JSON.parse reads it: json.loads would take NaN and Infinity."""
    return json.loads(text, parse_constant=no_constant)


def secret_kid(secret):
    """The kid Gatehouse gives an HS256 secret: an HMAC of a fixed label, 16 characters."""
    digest = hmac.new(secret.encode(), b"gatehouse key id", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:16]


def is_integer(value):
    """A safe integer as JavaScript sees one: JSON's 1.0 is the number 1."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53 - 1


# Ed25519 verification (RFC 8032 5.1.7), after the reference code of its section 6, in extended
# coordinates. Verification only: no secret is handled, so constant time does not matter here.
ED_P = 2**255 - 19
ED_L = 2**252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def _ed_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e, f = (y1 - x1) * (y2 - x2) % ED_P, (y1 + x1) * (y2 + x2) % ED_P
    c, d = 2 * t1 * t2 * ED_D % ED_P, 2 * z1 * z2 % ED_P
    e, f, g, h = f - e, d - c, d + c, f + e
    return (e * f % ED_P, g * h % ED_P, f * g % ED_P, e * h % ED_P)


def _ed_mul(scalar, point):
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _ed_add(result, point)
        point = _ed_add(point, point)
        scalar >>= 1
    return result


def _ed_equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % ED_P == 0 and (a[1] * b[2] - b[1] * a[2]) % ED_P == 0


def _ed_decode(data):
    """The point of a 32-byte encoding, or None if it is not one (y >= p, or no such x)."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= ED_P:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    if x2 == 0:
        if sign:
            return None
        x = 0
    else:
        x = pow(x2, (ED_P + 3) // 8, ED_P)
        if (x * x - x2) % ED_P:
            x = x * ED_SQRT_M1 % ED_P
        if (x * x - x2) % ED_P:
            return None
        if x & 1 != sign:
            x = ED_P - x
    return (x, y, 1, x * y % ED_P)


_ED_BY = 4 * pow(5, ED_P - 2, ED_P) % ED_P
ED_BASE = _ed_decode(_ED_BY.to_bytes(32, "little"))


def ed25519_verify(public, message, signature):
    if len(signature) != 64:
        return False
    a, r = _ed_decode(public), _ed_decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= ED_L:  # S >= L: the same signature spelled another way (malleable)
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % ED_L
    return _ed_equal(_ed_mul(s, ED_BASE), _ed_add(r, _ed_mul(k, a)))


SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rs256_verify(n, e, message, signature):
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 8.2.2): the whole encoded block compared, never parsed."""
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    encoded = pow(s, e, n).to_bytes(size, "big")
    expected = b"\x00\x01" + b"\xff" * (size - 3 - len(SHA256_DIGEST_INFO) - 32) + b"\x00" + SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    return hmac.compare_digest(encoded, expected)


# Members only a private or symmetric JWK has: a JWKS that publishes one is misconfigured.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 50


def usable_key(jwk):
    """(kid, alg, verify) of a public signing key Gatehouse would publish, or None (skipped)."""
    if not isinstance(jwk, dict):
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= 256:
        return None
    if jwk.get("use", "sig") != "sig" or any(member in jwk for member in PRIVATE_MEMBERS):
        return None
    try:
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and jwk.get("alg", "EdDSA") == "EdDSA":
            x = b64url(jwk["x"])
            if _ed_decode(x) is None:
                return None
            return kid, "EdDSA", lambda message, signature: ed25519_verify(x, message, signature)
        if jwk.get("kty") == "RSA" and jwk.get("alg", "RS256") == "RS256":
            n, e = int.from_bytes(b64url(jwk["n"]), "big"), int.from_bytes(b64url(jwk["e"]), "big")
            if n.bit_length() < 2048 or e < 3 or e % 2 == 0:
                return None
            return kid, "RS256", lambda message, signature: rs256_verify(n, e, message, signature)
    except (KeyError, TypeError, ValueError):  # a member missing, not a string, or not base64url
        return None
    return None


def public_keys(jwks):
    """{kid: (alg, verify)} of a JWK Set's usable keys; ValueError if it is not a JWK Set."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise ValueError("it is not a JWK Set (a JSON object with a \"keys\" array)")
    found = {}
    for jwk in keys[:MAX_KEYS]:
        entry = usable_key(jwk)
        if entry:
            found[entry[0]] = entry[1:]
    return found


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None  # the 3xx is then an HTTPError: a redirect could lead anywhere


def fetch_jwks(url):
    """The JWK Set at JWT_JWKS_URL. ConfigError for a URL that may not be used, Unavailable if it cannot be read."""
    production = "production" in (os.environ.get("GATEHOUSE_ENV"), os.environ.get("NODE_ENV"))
    try:
        parsed = urlparse(url)
        host = parsed.hostname
        parsed.port  # raises on a malformed port
    except ValueError:
        host = None
    if not host or not (parsed.scheme == "https" or parsed.scheme == "http" and is_loopback(host) and not production):
        raise ConfigError(
            f"JWT_JWKS_URL must be an https: URL (or http: to 127.0.0.0/8, ::1 or localhost when neither "
            f"GATEHOUSE_ENV nor NODE_ENV is production); refused: {url!r}"
        )
    outcome = []

    def fetch():
        try:
            opener = urllib.request.build_opener(_NoRedirect)
            request = urllib.request.Request(url, headers={"Accept": "application/json"})
            with opener.open(request, timeout=5) as response:
                body = response.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the answer is larger than {MAX_JWKS_BYTES} bytes")
            outcome.append(public_keys(json.loads(body.decode("utf-8"))))
        except (OSError, http.client.HTTPException, ValueError) as err:  # URLError/HTTPError are OSErrors
            outcome.append(Unavailable(f"the JWKS at {url} could not be read: {err}"))

    # One deadline for the whole exchange: a socket time-out alone restarts with every byte received.
    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(5)
    if not outcome:
        raise Unavailable(f"the JWKS at {url} could not be read within 5 s")
    if isinstance(outcome[0], Unavailable):
        raise outcome[0]
    return outcome[0]


def verify_token(token, keys, issuer, audience=None, accept_untyped=True):
    """(claims, untyped) of a genuine, current Gatehouse token of this issuer; raises NotLive otherwise.

    keys: {"public": {kid: (alg, verify)}, "secrets": [HS256 secrets, JWT_SECRET first]}. The key is
    picked by kid, never by alg, and each key verifies one algorithm only; a token without a kid
    (layout 1) is tried against each secret. `untyped`: a token from before typing, good only
    within the untyped window (checked with Redis, see live_session).
    """
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        raise NotLive("invalid_token")
    try:
        # Strict UTF-8 text, as JavaScript's JSON.parse sees it (json.loads of bytes would guess UTF-16).
        header = strict_json(b64url(parts[0]).decode("utf-8"))
        claims = strict_json(b64url(parts[1]).decode("utf-8"))
        signature = b64url(parts[2])
    except ValueError:  # UnicodeDecodeError and JSONDecodeError (a BOM included) are ValueErrors
        raise NotLive("invalid_token")
    except RecursionError:  # nested deeper than Python parses (JavaScript would): never a token Gatehouse signed
        raise NotLive("invalid_token")
    if not isinstance(header, dict):
        raise NotLive("invalid_token")
    # No critical extensions are understood, so none may be required (RFC 7515 4.1.11).
    if "crit" in header:
        raise NotLive("invalid_token")
    # A kid that is there but not a string (null included) names no key.
    if "kid" in header and not isinstance(header["kid"], str):
        raise NotLive("invalid_token")
    kid, alg = header.get("kid"), header.get("alg")
    signed = f"{parts[0]}.{parts[1]}".encode()
    # Pinned per key: never let the token choose the algorithm ("none", or a public key used as a secret).
    if kid is not None and kid in keys["public"]:
        key_alg, verify = keys["public"][kid]
        genuine = alg == key_alg and verify(signed, signature)
    else:
        secrets = [s for s in keys["secrets"] if kid is None or secret_kid(s) == kid]
        genuine = alg == "HS256" and any(
            hmac.compare_digest(hmac.new(s.encode(), signed, hashlib.sha256).digest(), signature) for s in secrets
        )
    if not genuine:
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
    untyped = header.get("typ") != TOKEN_TYPE
    if not untyped:
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
    return claims, untyped


def redis_now_ms(redis):
    seconds, micros = redis.call("TIME")
    return int(seconds) * 1000 + int(micros) // 1000


def integer(value):
    """A field written as an integer, or None (missing or malformed)."""
    return int(value) if value is not None and DIGITS.fullmatch(value) else None


def valid_seconds(value, ceiling):
    """Whole seconds as the contract writes them, 1..ceiling; None when not valid (then ignored)."""
    return int(value) if value is not None and SECONDS.fullmatch(value) and 1 <= int(value) <= ceiling else None


def ttl_in_force_ms(value, settings):
    """<prefix>config's session_ttl_seconds when it holds a valid TTL, else the deployment's default."""
    seconds = valid_seconds(value, settings["max_age"])
    return (seconds if seconds is not None else settings["default_ttl"]) * 1000


def client_fields(audience):
    """The <prefix>config fields of a client's policy: idle window, maximum age, ending."""
    return [f"client_ttl_seconds:{audience}", f"client_max_age_seconds:{audience}", f"client_ended_before:{audience}"]


def client_limits(client, settings):
    """A client's valid (max age, idle window) in seconds, None for what is not set or not valid:
    a window above the client's maximum age (else SESSION_MAX_AGE_SECONDS) is ignored."""
    max_age = valid_seconds(client[1], settings["max_age"])
    return max_age, valid_seconds(client[0], max_age if max_age is not None else settings["max_age"])


def client_ended(ended_before, created_at):
    """Whether ops ended the client's sessions created at created_at: before the cutoff, or every
    one when the cutoff is not a time (fail closed)."""
    return ended_before is not None and (not DIGITS.fullmatch(ended_before) or created_at < int(ended_before))


def policy(session, client, ttl_text, settings):
    """(idle window ms, absolute end ms, "client" or "global") of a session, by its hash's aud."""
    global_ttl = ttl_in_force_ms(ttl_text, settings)
    max_expires_at = integer(session.get("max_expires_at")) or 0
    if not session.get("aud"):  # no field (a session from before it) or '' (unbound): the global policy
        return global_ttl, max_expires_at, "global"
    max_age, ttl = client_limits(client, settings)
    created_at = integer(session.get("created_at")) or 0
    end = max_expires_at if max_age is None else min(max_expires_at, created_at + max_age * 1000)
    kind = "global" if max_age is None and ttl is None else "client"
    return (global_ttl if ttl is None else ttl * 1000), end, kind


def ended_reason(claims, now, cutoff_text, record, ended, client, settings):
    """Why a session whose hash is gone ended: its own ending if remembered, the user's last
    revoke-all, its client's ending, its absolute end; with nothing remembered, idle."""
    if ended is not None:
        return NotLive("logged_out") if ended == "logged_out" else revoked(ended)
    at, reason, kept = record
    if cutoff_text is not None:
        cutoff = integer(cutoff_text)
        if cutoff is None:
            return revoked(None)
        if cutoff > 0 and claims["created_at"] * 1000 < cutoff and claims["jti"] != kept:
            return revoked(reason if at == cutoff_text else None)
    if "aud" in claims and client_ended(client[2], claims["created_at"]):
        return revoked("client_ended")
    max_age, _ = client_limits(client, settings)
    end = claims["exp"] * 1000 if max_age is None else min(claims["exp"] * 1000, claims["created_at"] + max_age * 1000)
    return NotLive("max_age" if now >= end else "idle")


def session_generation(session):
    """The session's generation; one written before the field existed counts from its creation (us)."""
    generation = integer(session.get("generation"))
    return generation if generation is not None else (integer(session.get("created_at")) or 0) * 1000


def live_session(redis, prefix, claims, untyped, settings):
    """The session hash if the session is live by the contract's rules; raises NotLive otherwise."""
    # Layout 3: the user's id is the key's hash tag (Redis Cluster keeps a user's keys in one slot).
    user_id, jti = claims["user_id"], claims["jti"]
    key = f"{prefix}sess:{{{user_id}}}:{jti}"
    # Everything read fresh on every read, config included: ops change the TTL and the policy of
    # the token's client while services run. What ended a session is read with it (it is small).
    audience = claims.get("aud")
    flat, pttl, cutoff_text, (seconds, micros), ended, record, config = redis.pipeline(
        ("HGETALL", key),
        ("PTTL", key),
        ("GET", f"{prefix}user:{{{user_id}}}:cutoff"),
        ("TIME",),
        ("GET", f"{prefix}ended:{{{user_id}}}:{jti}"),
        ("HMGET", f"{prefix}user:{{{user_id}}}:revoked", "at", "reason", "kept"),
        ("HMGET", f"{prefix}config", "session_ttl_seconds", "untyped_tokens_until", *(client_fields(audience) if audience else [])),
    )
    ttl_text, untyped_until = config[0], config[1]
    client = config[2:] if audience else [None, None, None]
    session = dict(zip(flat[::2], flat[1::2]))
    now = int(seconds) * 1000 + int(micros) // 1000
    # Gatehouse records the window once, at the first start of this release; none recorded fails closed.
    if untyped:
        until = integer(untyped_until)
        if until is None or now >= until:
            raise NotLive("invalid_token")
    if not session:
        raise ended_reason(claims, now, cutoff_text, record, ended, client, settings)
    if session.get("v") not in LAYOUT_VERSIONS:
        raise NotLive("unknown_version")  # the layout changed: fail closed and upgrade this reader
    # A key without a TTL was recreated by a stray write after the session ended: not a session.
    max_expires_at = integer(session.get("max_expires_at"))
    if session.get("user_id") != user_id or max_expires_at is None or pttl <= 0:
        raise NotLive("no_session")
    # Another client's session (or an unbound one's) is not this token's, nor is its policy.
    if "aud" in session and session["aud"] != claims.get("aud", ""):
        raise NotLive("no_session")
    # None: no revoke-all yet. One that is not an integer (written by hand) ends every session.
    cutoff = 0 if cutoff_text is None else integer(cutoff_text)
    if cutoff is None or (cutoff > 0 and session_generation(session) < cutoff):
        # A revoke-all ended it (Gatehouse is deleting its keys); its record says why, if it is this one's.
        raise revoked(record[1] if cutoff is not None and record[0] == cutoff_text else None)
    # The client whose ending applies is the hash's; a session from before the field has the token's
    # (an ending only shortens a life: its windows stay the global ones, below).
    ending_client = session["aud"] if "aud" in session else claims.get("aud")
    if ending_client and client_ended(client[2], integer(session.get("created_at")) or 0):
        raise revoked("client_ended")
    ttl_ms, end, _ = policy(session, client, ttl_text, settings)
    if now >= end:
        raise NotLive("max_age")
    # Gatehouse always writes last_seen_at; one that is missing or not an integer is taken as idle.
    last_seen_at = integer(session.get("last_seen_at"))
    if last_seen_at is None or now - last_seen_at > ttl_ms:
        raise NotLive("idle")  # idle longer than its window (ops may have shortened it); Gatehouse ends it at its next request
    return session


def read(redis, prefix, claims, untyped, settings):
    session = live_session(redis, prefix, claims, untyped, settings)
    role = session.get("role", "") if session.get("v") != "1" else ""
    print(f"user_id={session['user_id']} role={role}")
    return 0


def check(redis, prefix, claims, untyped, settings):
    """Every statement of docs/session-contract.md about one live session, checked with plain commands."""
    failures = []

    def expect(condition, what):
        print(f"{'ok  ' if condition else 'FAIL'} {what}")
        if not condition:
            failures.append(what)

    jti, user_id = claims["jti"], claims["user_id"]
    key, index, owner = f"{prefix}sess:{{{user_id}}}:{jti}", f"{prefix}user:{{{user_id}}}:sessions", f"{prefix}owner:{{{user_id}}}:{jti}"
    ms = re.compile(r"[0-9]{13}")  # not \d: it takes other scripts' digits

    expect(re.fullmatch(r"[A-Za-z0-9_-]{22}", jti) is not None, "jti is 22 base64url characters")
    expect(redis.call("TYPE", key) == "hash", f"{key} is a hash")
    session = redis.hash(key)
    expect(session.get("v") == "3", "v is 3")
    documented = {"v", "user_id", "role", "created_at", "last_seen_at", "max_expires_at", "client", "user_agent", "ip", "email", "user_created_at", "generation", "email_verified_at", "aud"}
    expect(set(session) == documented, f"fields are exactly {sorted(documented)} (got {sorted(session)})")
    verified = session.get("email_verified_at", "")
    expect(verified == "" or (ms.fullmatch(verified) is not None and verified <= session.get("created_at", "")), "email_verified_at is empty or integer Unix ms, no later than created_at")
    expect(re.fullmatch(r"[^@\s]+@[^@\s]+", session.get("email", "")) is not None, "email is an address")
    expect(ms.fullmatch(session.get("user_created_at", "")) is not None, "user_created_at is integer Unix ms")
    expect(session.get("user_created_at", "") <= session.get("created_at", ""), "and no later than the session's created_at")
    expect(session.get("user_id") == user_id, "user_id equals the token's user_id")
    generation = session.get("generation", "")
    expect(re.fullmatch(r"0|[1-9][0-9]{0,15}", generation) is not None, "generation is an integer (0, or Unix us)")
    cutoff = redis.call("GET", f"{prefix}user:{{{user_id}}}:cutoff")
    expect(cutoff is None or re.fullmatch(r"[1-9][0-9]{0,15}", cutoff) is not None, "the user's cutoff is absent or Unix us")
    if cutoff is not None and DIGITS.fullmatch(generation) and DIGITS.fullmatch(cutoff):
        expect(int(generation) >= int(cutoff), "the session's generation is not below the user's cutoff (it was not revoked)")
    expect(session.get("role") in ("user", "admin"), "role is user or admin")
    for field in ("created_at", "last_seen_at", "max_expires_at"):
        expect(ms.fullmatch(session.get(field, "")) is not None, f"{field} is integer Unix ms")
    expect(session.get("created_at") == str(claims.get("created_at")), "created_at equals the token's created_at")
    expect(session.get("max_expires_at") == str(claims["exp"] * 1000), "max_expires_at equals the token's exp * 1000")
    client = session.get("client", "")
    expect(len(client) <= 64 and re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", client) is None,
           "client is empty or a one-line label of at most 64 code points, without control or bidi characters")
    expect(len(session.get("user_agent", "")) <= 256, "user_agent is at most 256 characters")

    expiry = redis.call("PEXPIRETIME", key)
    now = redis_now_ms(redis)
    expect(expiry > now, "the key has a TTL in the future")
    max_expires_at = integer(session.get("max_expires_at")) or 0
    expect(session.get("aud") == claims.get("aud", ""), "aud is the token's audience ('' for an unbound token)")
    config = redis.hash(f"{prefix}config")
    ttl = config.get("session_ttl_seconds")
    audience = claims.get("aud")
    client = [config.get(field) for field in client_fields(audience)] if audience else [None, None, None]
    ttl_ms, end, kind = policy(session, client, ttl, settings)
    expect(expiry <= end, f"it never reaches past its absolute end ({kind} policy: max_expires_at{', or sooner by the client maximum age' if kind == 'client' else ''})")
    last_seen_at = integer(session.get("last_seen_at")) or 0
    expect(expiry - last_seen_at <= ttl_ms, f"it is at most last_seen_at + the idle window in force ({kind} policy)")

    expect(redis.call("TYPE", index) == "zset", f"{index} is a sorted set")
    score = redis.call("ZSCORE", index, jti)
    expect(score is not None and int(float(score)) == expiry, "the index score is the session's PEXPIRETIME")
    expect(redis.call("PEXPIRETIME", index) >= expiry, "the index lives as long as its longest session")

    expect(redis.call("GET", owner) == user_id, f"{owner} names the user")
    expect(redis.call("PEXPIRETIME", owner) > max_expires_at, "and outlives the session's absolute end")

    # What a reader takes as a TTL; anything else it ignores, but Gatehouse never writes it.
    expect(ttl is None or (re.fullmatch(r"[0-9]{1,9}", ttl) is not None and 1 <= int(ttl) <= settings["max_age"]),
           "config session_ttl_seconds is absent or whole seconds from 1 to SESSION_MAX_AGE_SECONDS")
    until = config.get("untyped_tokens_until")
    expect(until is None or ms.fullmatch(until) is not None, "config untyped_tokens_until is absent or integer Unix ms")
    if untyped:
        expect(until is not None and ms.fullmatch(until) is not None and now < int(until), "the token is untyped, and the untyped window is open")

    events = f"{prefix}events"
    expect(redis.call("TYPE", events) == "stream", f"{events} is a stream")
    entries = redis.call("XRANGE", events, "-", "+")
    mine = [dict(zip(fields[::2], fields[1::2])) for _, fields in entries]
    mine = [e for e in mine if e.get("session_id") == jti]
    expect(any(e.get("type") == "created" for e in mine), "the stream holds the session's created event")
    for event in mine:
        # `client` was added to format 1 later (an addition: older entries lack it).
        expect(event.get("v") in EVENT_FORMAT_VERSIONS and set(event) - {"client"} == {"v", "type", "session_id", "user_id", "reason"}, f"event {event.get('type')} has exactly v, type, session_id, user_id, reason (and client)")
        expect(event.get("user_id") == user_id, f"event {event.get('type')} names the user")

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def env_seconds(name, default):
    value = os.environ.get(name, default)
    if not re.fullmatch(r"[0-9]{1,10}", value) or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of seconds, at least 1 (got {value!r})")
    return int(value)


def load_settings():
    """Everything the environment configures, checked; ConfigError (exit 2) or Unavailable (exit 3)."""
    unsafe = os.environ.get("JWT_UNSAFE_SHARED_SECRETS", "false")
    if unsafe not in ("true", "false"):
        raise ConfigError(f"JWT_UNSAFE_SHARED_SECRETS must be true or false (got {unsafe!r})")
    secret = os.environ.get("JWT_SECRET", "")
    previous = [s.strip() for s in os.environ.get("JWT_PREVIOUS_SECRETS", "").split(",") if s.strip()]
    secrets = []
    if unsafe == "true":
        if not secret:
            raise ConfigError("JWT_UNSAFE_SHARED_SECRETS=true needs JWT_SECRET, the HS256 secret")
        secrets = [secret] + previous
    elif secret or previous:
        raise ConfigError(
            "JWT_SECRET is refused: whoever holds a shared HS256 secret can sign a token for any session; "
            "verify with the public keys (JWT_JWKS or JWT_JWKS_URL), or set JWT_UNSAFE_SHARED_SECRETS=true to use it anyway"
        )
    jwks_text, jwks_url = os.environ.get("JWT_JWKS"), os.environ.get("JWT_JWKS_URL")
    if jwks_text and jwks_url:
        raise ConfigError("set one of JWT_JWKS and JWT_JWKS_URL, not both")
    public = {}
    if jwks_text:
        try:
            public = public_keys(json.loads(jwks_text))
        except ValueError as err:
            raise ConfigError(f"JWT_JWKS must be the JSON text of a JWK Set: {err}")
    elif jwks_url:
        public = fetch_jwks(jwks_url)
    if not (jwks_text or jwks_url or secrets):
        raise ConfigError("no keys to verify tokens with: set JWT_JWKS or JWT_JWKS_URL (the deployment's public keys)")
    accept_untyped = os.environ.get("JWT_ACCEPT_UNTYPED", "true")
    if accept_untyped not in ("true", "false"):
        raise ConfigError("JWT_ACCEPT_UNTYPED must be true or false, as Gatehouse's")
    issuer = os.environ.get("JWT_ISSUER", "gatehouse")
    if not issuer:
        raise ConfigError("JWT_ISSUER must not be empty")
    return {
        "keys": {"public": public, "secrets": secrets},
        "issuer": issuer,
        "accept_untyped": accept_untyped == "true",
        "default_ttl": env_seconds("SESSION_TTL_SECONDS", "1200"),
        "max_age": env_seconds("SESSION_MAX_AGE_SECONDS", str(30 * 24 * 3600)),
    }


def main(argv):
    if not (argv[:1] in (["read"], ["check"]) and len(argv) in (2, 3)):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        token = sys.stdin.read().strip() if argv[1] == "-" else argv[1]
        audience = argv[2] if len(argv) == 3 else None
        claims, untyped = verify_token(token, settings["keys"], settings["issuer"], audience, settings["accept_untyped"])
        redis = Redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
        prefix = os.environ.get("REDIS_KEY_PREFIX", "gatehouse:")
        return (read if argv[0] == "read" else check)(redis, prefix, claims, untyped, settings)
    except NotLive as not_live:
        cause = f" cause={not_live.cause}" if not_live.cause else ""
        print(f"not live: {not_live.reason}{cause}", file=sys.stderr)
        return 1
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except (Unavailable, OSError, RuntimeError) as err:  # refused, reset, timed out; a Redis error reply
        print(f"unavailable: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
