"""Call accounting and fault injection for every AWS request the emulator serves.

Each request is identified as `service.Operation` whatever its protocol (JSON with
X-Amz-Target, query with an Action parameter, Smithy RPC v2 CBOR by path, SigV4
credential scope as the fallback for the service). Calls are counted per key, and
fault rules set with `POST /_localaws/faults` can make a share of matching requests
fail the way AWS fails: throttling errors and 5xx answers in the protocol the client
spoke, extra latency, a dropped connection (the socket is closed without an answer),
or a hang: the connection is accepted and never answered, until the rules change, the
state is reset or `hang_seconds` pass (a hung AWS endpoint, for clients' timeouts).
A `deny` share answers as AWS does when the caller's policy lacks the action
(AccessDeniedException / AccessDenied, HTTP 400, "... is not authorized to perform:
<service>:<Operation> ..."), so a client's handling of one missing permission can be
tested without IAM.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import cbor2

# X-Amz-Target prefix (JSON protocols) and CBOR service name -> botocore service name.
TARGET_PREFIXES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "CodeDeploy_20141006": "codedeploy",
    "Logs_20140328": "logs",
    "GraniteServiceVersion20100801": "cloudwatch",
    "AWSEvents": "events",
    "AmazonSQS": "sqs",
    "DynamoDB_20120810": "dynamodb",
    "secretsmanager": "secretsmanager",
    "AmazonSSM": "ssm",
    "TrentService": "kms",
    "AnyScaleFrontendService": "application-autoscaling",
    "ResourceGroupsTaggingAPI_20170126": "resourcegroupstaggingapi",
}

# SigV4 signing name -> botocore service name, where they differ.
SIGNING_NAMES = {
    "monitoring": "cloudwatch",
    "elasticloadbalancing": "elbv2",
    "tagging": "resourcegroupstaggingapi",
}

# Query-protocol XML namespaces, so a query error looks like the service's own.
QUERY_NAMESPACES = {
    "cloudwatch": "http://monitoring.amazonaws.com/doc/2010-08-01/",
    "elbv2": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}

CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/([^/,]+)/aws4_request")


@dataclass
class RequestInfo:
    service: str
    operation: str
    protocol: str  # json | query | cbor | rest
    region: str | None = None
    content_type: str = ""

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"


def credential_scope(environ: dict) -> tuple[str | None, str | None]:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = SCOPE.search(auth)
    if not m:
        # Presigned query-string requests carry the scope in X-Amz-Credential.
        qs = parse_qs(environ.get("QUERY_STRING", ""))
        cred = (qs.get("X-Amz-Credential") or [""])[0]
        parts = cred.split("/")
        if len(parts) == 5:
            return parts[2], parts[3]
        return None, None
    return m.group(1), m.group(2)


def _form_params(environ: dict, body: bytes) -> dict[str, list[str]]:
    params = parse_qs(environ.get("QUERY_STRING", ""))
    ctype = environ.get("CONTENT_TYPE", "")
    if body and ctype.startswith("application/x-www-form-urlencoded"):
        raw = body
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            try:
                raw = gzip.decompress(body)
            except OSError:
                raw = b""
        for k, v in parse_qs(raw.decode("utf-8", "replace")).items():
            params.setdefault(k, []).extend(v)
    return params


def identify(environ: dict, body: bytes) -> RequestInfo:
    """Work out service, operation and protocol of an AWS request."""
    region, scope_service = credential_scope(environ)
    scope_service = SIGNING_NAMES.get(scope_service or "", scope_service)
    ctype = environ.get("CONTENT_TYPE", "")
    path = environ.get("PATH_INFO", "")

    m = CBOR_PATH.match(path)
    if m:
        service = TARGET_PREFIXES.get(m.group(1)) or scope_service or m.group(1)
        return RequestInfo(service, m.group(2), "cbor", region, ctype)

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        prefix, _, op = target.rpartition(".")
        service = TARGET_PREFIXES.get(prefix) or scope_service or prefix or "unknown"
        return RequestInfo(service, op, "json", region, ctype)

    params = _form_params(environ, body)
    action = (params.get("Action") or [None])[0]
    if action:
        service = scope_service or "unknown"
        version = (params.get("Version") or [""])[0]
        if service == "elbv2" and version == "2012-06-01":
            service = "elb"
        return RequestInfo(service, action, "query", region, ctype)

    return RequestInfo(scope_service or "unknown", "unknown", "rest", region, ctype)


# ---------------------------------------------------------------------------
# Call counts


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.injected: dict[str, dict[str, int]] = {}

    def record(self, info: RequestInfo) -> None:
        with self._lock:
            self.calls[info.key] = self.calls.get(info.key, 0) + 1

    def record_fault(self, info: RequestInfo, kind: str) -> None:
        with self._lock:
            per = self.injected.setdefault(info.key, {})
            per[kind] = per.get(kind, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "injected": {k: dict(v) for k, v in sorted(self.injected.items())},
            }

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.injected.clear()


CALLS = CallLog()


# ---------------------------------------------------------------------------
# Fault rules

KINDS = ("drop", "hang", "throttle", "error5xx", "deny")

# The longest a hung request is held; a safety net so no server thread waits forever.
MAX_HANG_SECONDS = 600.0


@dataclass
class Rule:
    service: str = "*"
    operation: str = "*"
    throttle: float = 0.0
    error5xx: float = 0.0
    drop: float = 0.0
    # Share of requests that are accepted and never answered (see `hang_seconds`).
    hang: float = 0.0
    hang_seconds: float = MAX_HANG_SECONDS
    # Share of requests refused for lack of permission (AccessDenied).
    deny: float = 0.0
    latency_ms: float = 0.0
    # Stop injecting errors after this many (latency keeps applying); None = no limit.
    limit: int | None = None
    injected: int = field(default=0)

    def matches(self, info: RequestInfo) -> bool:
        return self.service in ("*", info.service) and self.operation in ("*", info.operation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "throttle": self.throttle,
            "error5xx": self.error5xx,
            "drop": self.drop,
            "hang": self.hang,
            "hang_seconds": self.hang_seconds,
            "deny": self.deny,
            "latency_ms": self.latency_ms,
            "limit": self.limit,
            "injected": self.injected,
        }


def parse_rule(raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise ValueError("each rule must be an object")
    unknown = set(raw) - {"service", "operation", "throttle", "error5xx", "drop", "hang", "hang_seconds", "deny", "latency_ms", "limit"}
    if unknown:
        raise ValueError(f"unknown rule keys: {sorted(unknown)}")
    rule = Rule(
        service=str(raw.get("service", "*")),
        operation=str(raw.get("operation", "*")),
        throttle=float(raw.get("throttle", 0)),
        error5xx=float(raw.get("error5xx", 0)),
        drop=float(raw.get("drop", 0)),
        hang=float(raw.get("hang", 0)),
        hang_seconds=float(raw.get("hang_seconds", MAX_HANG_SECONDS)),
        deny=float(raw.get("deny", 0)),
        latency_ms=float(raw.get("latency_ms", 0)),
        limit=None if raw.get("limit") is None else int(raw["limit"]),
    )
    shares = (rule.throttle, rule.error5xx, rule.drop, rule.hang, rule.deny)
    if any(s < 0 or s > 1 for s in shares) or sum(shares) > 1.0 + 1e-9:
        raise ValueError("throttle, error5xx, drop, hang and deny are shares in [0, 1] and together at most 1")
    if not 0 <= rule.hang_seconds <= MAX_HANG_SECONDS:
        raise ValueError(f"hang_seconds must be between 0 and {MAX_HANG_SECONDS:.0f}")
    if rule.latency_ms < 0:
        raise ValueError("latency_ms must not be negative")
    return rule


@dataclass
class Decision:
    kind: str | None  # None | drop | hang | throttle | error5xx | deny
    latency_s: float
    status: int = 0
    hang_s: float = 0.0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self._rng = random.Random()
        # Set to release the requests hung under the current rules.
        self._release = threading.Event()

    def configure(self, rules: list[Rule], seed: Any = None) -> None:
        with self._lock:
            self.rules = rules
            self._rng = random.Random(seed)
            # New rules (or a reset) release every request the old ones hung.
            self._release.set()
            self._release = threading.Event()

    def hang(self, seconds: float) -> None:
        """Hold the calling request thread without answering, until the rules change."""
        with self._lock:
            release = self._release
        release.wait(seconds)

    def clear(self) -> None:
        self.configure([], None)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"rules": [r.to_dict() for r in self.rules]}

    def decide(self, info: RequestInfo) -> Decision:
        with self._lock:
            rule = next((r for r in self.rules if r.matches(info)), None)
            if rule is None:
                return Decision(None, 0.0)
            latency = rule.latency_ms / 1000.0
            if rule.limit is not None and rule.injected >= rule.limit:
                return Decision(None, latency)
            draw = self._rng.random()
            kind = None
            edge = 0.0
            for name in KINDS:
                edge += getattr(rule, name)
                if draw < edge:
                    kind = name
                    break
            status = 0
            if kind == "error5xx":
                status = self._rng.choice((500, 503))
            if kind is not None:
                rule.injected += 1
            return Decision(kind, latency, status, rule.hang_seconds if kind == "hang" else 0.0)


FAULTS = FaultInjector()


# ---------------------------------------------------------------------------
# Error answers in each protocol


def error_response(info: RequestInfo, code: str, message: str, status: int) -> tuple[int, list[tuple[str, str]], bytes]:
    """An AWS error in the protocol of the request (status, headers, body)."""
    request_id = str(uuid.uuid4())
    fault = "Sender" if status < 500 else "Receiver"
    headers = [("x-amzn-RequestId", request_id)]
    if info.protocol == "cbor":
        # `__type` carries the shape ID; query-compatible services (CloudWatch) also
        # send their query error code in x-amzn-query-error, which SDKs prefer.
        namespace = "com.amazonaws." + info.service
        body = cbor2.dumps({"__type": f"{namespace}#{code}", "message": message})
        headers += [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-query-error", f"{code};{fault}"),
        ]
        return status, headers, body
    if info.protocol == "query":
        ns = QUERY_NAMESPACES.get(info.service, f"https://{info.service}.amazonaws.com/doc/")
        body = (
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{fault}</Type><Code>{code}</Code>'
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
        return status, headers, body
    ctype = info.content_type if "json" in info.content_type else "application/x-amz-json-1.1"
    body = json.dumps({"__type": code, "message": message}).encode()
    headers += [("Content-Type", ctype), ("x-amzn-ErrorType", code)]
    if info.service == "cloudwatch":
        headers.append(("x-amzn-query-error", f"{code};{fault}"))
    return status, headers, body


def injected_error(info: RequestInfo, decision: Decision) -> tuple[int, list[tuple[str, str]], bytes]:
    if decision.kind == "hang":
        # Accepted, never answered: by the time the hang ends the client has given up;
        # whatever it still reads is a 503.
        FAULTS.hang(decision.hang_s)
        return error_response(info, "ServiceUnavailable", "Service is unavailable, try again later.", 503)
    if decision.kind == "throttle":
        return error_response(info, "ThrottlingException", "Rate exceeded", 400)
    if decision.kind == "deny":
        return access_denied(info)
    if decision.status == 503:
        return error_response(info, "ServiceUnavailable", "Service is unavailable, try again later.", 503)
    return error_response(info, "InternalFailure", "The request processing has failed because of an unknown error.", 500)


# Signing names of the services whose IAM action prefix differs from the botocore name.
IAM_PREFIXES = {"cloudwatch": "cloudwatch", "elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}


def access_denied(info: RequestInfo) -> tuple[int, list[tuple[str, str]], bytes]:
    """The answer AWS gives when the caller's policy lacks the action: JSON services say
    AccessDeniedException; query services and CloudWatch (query-compatible in every
    protocol, its code in x-amzn-query-error) AccessDenied; all HTTP 400."""
    action = f"{IAM_PREFIXES.get(info.service, info.service)}:{info.operation}"
    message = (
        "User: arn:aws:iam::123456789012:user/localaws is not authorized to perform: "
        f"{action} because no identity-based policy allows the {action} action"
    )
    query_style = info.protocol in ("query", "cbor") or info.service == "cloudwatch"
    code = "AccessDenied" if query_style else "AccessDeniedException"
    return error_response(info, code, message, 400)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
