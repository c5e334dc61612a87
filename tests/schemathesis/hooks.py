"""Schemathesis hooks for `make test` (see schemathesis.toml): what OpenAPI 3.0 cannot state
about the API, and what the local emulator cannot carry. Each drops only the exact case or
failure it names; everything else is checked as generated."""

import atexit
import itertools
import json
import re
import uuid

import schemathesis

# The filter parameters of `DELETE /api/v1/users` (docs/contracts.md#delete-by-filter).
# `dry_run` is not a filter.
FILTERS = {
    "active",
    "create_time_gt",
    "create_time_lt",
    "email",
    "is_online",
    "last_login_time_gt",
    "last_login_time_lt",
    "login_ip",
    "name",
    "role_id",
    "user_id",
    "user_id_in",
    "user_type",
}

# The body `cargo lambda watch` answers with when it fails itself (the function never ran).
EMULATOR_500 = {"type": "https://httpstatuses.com/500", "status": 500, "title": "Internal Server Error"}


def _non_ascii_header(case):
    return any(isinstance(v, str) and not v.isascii() for v in (case.headers or {}).values())


def _text_body_not_utf8(case):
    """A body the emulator reads as text (`text/*`, `application/json`) that is not UTF-8."""
    media = (case.media_type or "").lower()
    if not (media.startswith("text/") or media.startswith("application/json")):
        return False
    body = case.body
    try:
        if isinstance(body, (bytes, bytearray)):
            bytes(body).decode("utf-8")
        elif isinstance(body, str):
            body.encode("utf-8")
    except UnicodeError:
        return True
    return False


def _without_filter(case):
    operation = case.operation
    return (
        operation.method.upper() == "DELETE"
        and operation.path == "/api/v1/users"
        and not any(name in FILTERS for name in (case.query or {}))
    )


# What the functions accept as an Idempotency-Key (see the parameter in docs/openapi.yaml).
VALID_KEY = re.compile(r"^[ -~]*[!-~][ -~]*$")
_calls = itertools.count()
# Keys of earlier runs against the same table must not meet this run's.
_run = uuid.uuid4().hex[:8]


@schemathesis.hook
def before_call(context, case, kwargs):
    """Makes every valid `Idempotency-Key` unique to its request. Generated keys repeat
    (`0`, `A`, ...) across unrelated requests, and a key already used for a different
    request is refused with 422 by design, so most generated requests would test nothing
    else. The key stays valid (visible ASCII, at most 255 characters); invalid keys are
    sent as generated."""
    headers = case.headers or {}
    for name, value in headers.items():
        if name.lower() == "idempotency-key" and isinstance(value, str):
            key = value.strip()
            if VALID_KEY.match(key) and len(key) <= 255:
                suffix = f"~{_run}.{next(_calls)}"
                headers[name] = key[: 255 - len(suffix)] + suffix


@schemathesis.hook
def filter_case(context, case):
    """Header values outside ASCII are not sent: `cargo lambda watch` cannot put them into
    the API Gateway event and answers 500 itself, without calling the function."""
    return not _non_ascii_header(case)


def _emulator_500(response):
    try:
        return response.status_code == 500 and json.loads(response.content) == EMULATOR_500
    except ValueError:
        return False


# Test cases whose failures were dropped, by reason; printed when the run ends.
DROPPED = {
    "emulator 500, request it cannot carry": set(),
    "emulator 500, answer lost": set(),
    "400 filter_required without a filter": set(),
    "400 for a cursor the listing did not issue": set(),
    "SCIM 400 for a filter or PATCH the grammar rejects": set(),
    "412 for an If-Match the service did not issue": set(),
    "413 for a Bulk request over maxOperations": set(),
}


@atexit.register
def _report_dropped():
    counts = ", ".join(f"{reason}: {len(ids)}" for reason, ids in DROPPED.items())
    print(f"hooks.py dropped the failures of these test cases: {counts}")


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Drops the failures that are not the functions' (the coverage phase does not pass its
    cases through `filter_case`). Only `cargo lambda watch`'s own problem document counts
    as the emulator's 500: a function's failure reaches the client with the function's
    own body, never with this one.

    - The emulator's 500 to a request it cannot turn into an API Gateway event: a header
      value outside ASCII, or a JSON or text body that is not UTF-8 (API Gateway delivers
      such a body base64-encoded and the functions answer 400).
    - The emulator's 500 after the function answered: `cargo lambda watch` acknowledges
      the function's answer before reading all of it, and now and then loses a large one (see
      README, "The local stack"). The function's log shows the answer it produced.
    - 400 code 132 `filter_required` to a filter delete without any filter parameter: every
      parameter is optional, but at least one is required, which OpenAPI 3.0 cannot state.
    - 400 to a listing (or a filter delete) whose `cursor` is not one it answered: a
      cursor is sealed by the service (docs/contracts.md#read-users), so no generated
      string is one, which OpenAPI 3.0 cannot state.
    """
    if _emulator_500(response):
        if _non_ascii_header(case) or _text_body_not_utf8(case):
            DROPPED["emulator 500, request it cannot carry"].add(case.id)
        else:
            DROPPED["emulator 500, answer lost"].add(case.id)
        return False
    if response.status_code == 400 and _without_filter(case):
        try:
            code = json.loads(response.content)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return True
        if code == 132:
            DROPPED["400 filter_required without a filter"].add(case.id)
            return False
    if response.status_code == 400 and _foreign_cursor(case, response):
        DROPPED["400 for a cursor the listing did not issue"].add(case.id)
        return False
    if response.status_code == 412 and any(
        k.lower() == "if-match" for k in (case.headers or {})
    ):
        # A version is an entity tag the service issued; a generated one is stale.
        DROPPED["412 for an If-Match the service did not issue"].add(case.id)
        return False
    if (
        response.status_code == 413
        and case.operation.method.upper() == "POST"
        and case.operation.path == "/scim/v2/Bulk"
    ):
        # RFC 7644 §3.7.4: more operations than maxOperations is a 413, which is not
        # among the statuses schemathesis expects for a schema-violating body.
        DROPPED["413 for a Bulk request over maxOperations"].add(case.id)
        return False
    if response.status_code == 400 and _scim_grammar(case, response):
        DROPPED["SCIM 400 for a filter or PATCH the grammar rejects"].add(case.id)
        return False
    return True


# SCIM values whose grammar OpenAPI 3.0 cannot state (RFC 7644 §3.4.2.2 filters, §3.5.2
# PATCH paths and operations): a generated string is almost never one, and the service
# answers the SCIM Error RFC 7644 names for it. Only these scimTypes, only here.
SCIM_GRAMMAR = {
    ("GET", "/scim/v2/Users"): {"invalidFilter"},
    ("POST", "/scim/v2/.search"): {"invalidFilter"},
    ("PATCH", "/scim/v2/Users/{id}"): {"invalidPath", "invalidValue", "invalidSyntax", "noTarget", "invalidFilter"},
}


def _scim_grammar(case, response):
    operation = case.operation
    allowed = SCIM_GRAMMAR.get((operation.method.upper(), operation.path))
    if not allowed:
        return False
    try:
        return json.loads(response.content).get("scimType") in allowed
    except (ValueError, AttributeError):
        return False


def _foreign_cursor(case, response):
    # The listing (GET) and the filter delete (DELETE) both take only cursors they sealed.
    operation = case.operation
    if operation.method.upper() not in ("GET", "DELETE") or operation.path != "/api/v1/users":
        return False
    if "cursor" not in (case.query or {}):
        return False
    try:
        error = json.loads(response.content)["error"]
        if isinstance(error, dict):
            error = error.get("message", "")
        return "parameter `cursor`" in error
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
