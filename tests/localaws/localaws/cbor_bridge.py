"""Smithy RPC v2 CBOR front end for moto's query-protocol CloudWatch.

aws-sdk-cloudwatch for Rust speaks only `smithy.protocols#rpcv2Cbor`:
`POST /service/GraniteServiceVersion20100801/operation/<Operation>` with a CBOR body
and the header `smithy-protocol: rpc-v2-cbor`. moto only understands the query and
JSON protocols, so this module decodes the CBOR input, re-serialises it with
botocore's query serializer for the same operation model, runs it through moto's
WSGI app, parses moto's XML with botocore's query parser and encodes the result as
CBOR, walking the output shape so every member gets the CBOR type the model asks for
(doubles as floats, timestamps as tag 1 epoch seconds, blobs as byte strings).
"""

from __future__ import annotations

import gzip
import io
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import botocore.session
import cbor2
from botocore import parsers, serialize
from werkzeug.test import run_wsgi_app

from . import settings
from .faults import credential_scope

# CBOR service name (the Smithy service shape's name) -> botocore service name.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}

# Endpoint host per botocore service, so moto routes the internal query request.
HOSTS = {"cloudwatch": "monitoring.{region}.amazonaws.com"}

_models: dict[str, Any] = {}
_session = None


def service_model(service: str):
    global _session
    if service not in _models:
        if _session is None:
            _session = botocore.session.get_session()
        _models[service] = _session.get_service_model(service)
    return _models[service]


def response_headers(extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    headers = [("smithy-protocol", "rpc-v2-cbor")]
    return headers + (extra or [])


def error(model, code: str, message: str, status: int, op=None):
    """A CBOR error: `__type` is the error shape's ID; x-amzn-query-error has the
    query error code of query-compatible services (the Rust SDK reads that first)."""
    shape = _error_shape(model, op, code)
    shape_name, query_code = code, code
    if shape is not None:
        meta = shape.metadata.get("error", {})
        shape_name = shape.name
        query_code = meta.get("code", shape.name)
        if status < 500:
            status = meta.get("httpStatusCode", status)
    namespace = "com.amazonaws." + (model.service_name if model is not None else "unknown")
    body = cbor2.dumps({"__type": f"{namespace}#{shape_name}", "message": message})
    fault = "Sender" if status < 500 else "Receiver"
    headers = response_headers(
        [("Content-Type", "application/cbor"), ("x-amzn-query-error", f"{query_code};{fault}")]
    )
    return status, headers, body


def _error_shape(model, op, code: str):
    """The modelled error for a query error code: the operation's own errors first
    (several shapes share a code, e.g. ResourceNotFound), then the service's."""
    if model is None:
        return None
    candidates = list(getattr(op, "error_shapes", []) or []) + list(model.error_shapes)
    for shape in candidates:
        if shape.metadata.get("error", {}).get("code") == code:
            return shape
    for shape in candidates:
        if shape.name == code:
            return shape
    return None


# ---------------------------------------------------------------------------
# CBOR input -> botocore parameters


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, cbor2.CBORTag):
        value = value.value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    raise ValueError(f"not a timestamp: {value!r}")


def from_cbor(shape, value: Any) -> Any:
    """Normalise a decoded CBOR value to what botocore's serializers expect."""
    if value is None:
        return None
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise ValueError(f"{shape.name} must be a map")
        out = {}
        for key, member in shape.members.items():
            if key in value and value[key] is not None:
                out[key] = from_cbor(member, value[key])
        return out
    if t == "list":
        if not isinstance(value, list):
            raise ValueError(f"{shape.name} must be an array")
        return [from_cbor(shape.member, v) for v in value if v is not None]
    if t == "map":
        if not isinstance(value, dict):
            raise ValueError(f"{shape.name} must be a map")
        return {k: from_cbor(shape.value, v) for k, v in value.items() if v is not None}
    if t == "timestamp":
        return _to_datetime(value)
    if t in ("double", "float"):
        return float(value)
    if t in ("integer", "long", "short", "byte"):
        return int(value)
    if t == "boolean":
        return bool(value)
    if t == "blob":
        return bytes(value)
    return value


# ---------------------------------------------------------------------------
# botocore output -> CBOR


def to_cbor(shape, value: Any) -> Any:
    t = shape.type_name
    if t == "structure":
        out = {}
        for key, member in shape.members.items():
            if key in value and value[key] is not None:
                out[key] = to_cbor(member, value[key])
        return out
    if t == "list":
        return [to_cbor(shape.member, v) for v in value]
    if t == "map":
        return {k: to_cbor(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            seconds = value.timestamp()
        else:
            seconds = float(value)
        # Epoch seconds as a double under tag 1; SDKs keep millisecond precision.
        return cbor2.CBORTag(1, round(float(seconds), 3))
    if t in ("double", "float"):
        return float(value)
    if t in ("integer", "long", "short", "byte"):
        return int(value)
    if t == "boolean":
        return bool(value)
    if t == "blob":
        return value if isinstance(value, bytes) else str(value).encode()
    return str(value)


# ---------------------------------------------------------------------------


def handle(environ: dict, body: bytes, cbor_service: str, operation: str, moto_app) -> tuple[int, list, bytes]:
    service = SERVICES.get(cbor_service)
    if service is None:
        return error(None, "UnknownOperationException", f"Unknown service {cbor_service}", 404)
    model = service_model(service)
    if operation not in model.operation_names:
        return error(model, "UnknownOperationException", f"Unknown operation {operation}", 404)
    op = model.operation_model(operation)

    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError:
            return error(model, "SerializationException", "request body is not valid gzip", 400)
    try:
        raw = cbor2.loads(body) if body else {}
        params = from_cbor(op.input_shape, raw) if op.input_shape is not None else {}
    except (ValueError, TypeError, cbor2.CBORDecodeError) as exc:
        return error(model, "SerializationException", f"Could not decode CBOR input: {exc}", 400)

    query_request = serialize.create_serializer("query", include_validation=False).serialize_to_request(params, op)
    form = urlencode(query_request["body"], doseq=True).encode()

    region = _region(environ)
    sub = dict(environ)
    for key in ("HTTP_CONTENT_ENCODING", "HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_TRANSFER_ENCODING", "wsgi.input_terminated"):
        sub.pop(key, None)
    sub.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
            "CONTENT_LENGTH": str(len(form)),
            "HTTP_HOST": HOSTS[service].format(region=region),
            "wsgi.input": io.BytesIO(form),
        }
    )
    app_iter, status_line, headers = run_wsgi_app(moto_app, sub, buffered=True)
    try:
        xml = b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    status = int(status_line.split()[0])
    request_id = headers.get("x-amzn-RequestId") or headers.get("x-amz-request-id") or ""
    extra = [("x-amzn-RequestId", request_id)] if request_id else []

    if status >= 300:
        parsed = parsers.create_parser("query").parse(
            {"body": xml, "headers": dict(headers), "status_code": status}, op.output_shape
        )
        err = parsed.get("Error", {})
        code = err.get("Code") or ("InternalFailure" if status >= 500 else "ValidationError")
        return error(model, code, err.get("Message") or "", status, op)

    if op.output_shape is None:
        # Operations without output answer with no body and no Content-Type.
        return 200, response_headers(extra), b""
    parsed = parsers.create_parser("query").parse(
        {"body": xml, "headers": dict(headers), "status_code": status}, op.output_shape
    )
    parsed.pop("ResponseMetadata", None)
    out = to_cbor(op.output_shape, parsed)
    return 200, response_headers([("Content-Type", "application/cbor")] + extra), cbor2.dumps(out)


def _region(environ: dict) -> str:
    region, _ = credential_scope(environ)
    return region or settings.get("region")
