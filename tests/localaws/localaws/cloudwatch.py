"""CloudWatch alarms that behave like the real service, on top of moto's models.

moto stores alarms and metric data but never evaluates an alarm and has no
DescribeAlarmHistory. This module patches moto's CloudWatch backend and response
classes (so every protocol benefits: query, JSON and, through cbor_bridge, CBOR):

* alarms are evaluated from the stored metric data by a background loop, every
  `alarm_eval_seconds` emulated seconds, over the most recent complete periods, with
  AWS's StateReason / StateReasonData wording and TreatMissingData rules;
* every state change (evaluation or SetAlarmState) and every PutMetricAlarm is
  recorded as alarm history, served by DescribeAlarmHistory with its filters;
* a new alarm starts in INSUFFICIENT_DATA and an updated one keeps its state, as on
  AWS; timestamps come from the emulated clock;
* GetMetricData / GetMetricStatistics aggregate per period aligned to the period
  length, matching the exact dimension set, and PutMetricData without a timestamp is
  stamped with emulated time.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any

from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import (
    CloudWatchException,
    InvalidFormat,
    InvalidParameterValue,
    ResourceNotFound,
    ValidationError,
)
from moto.cloudwatch.models import CloudWatchBackend, MetricAggregatedDatum, MetricDatum, Statistics, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from . import clock, registry, settings
from .timeline import TIMELINE

STATE_LOCK = threading.RLock()
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")

OPERATOR_TEXT = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}

# (account, region) -> history items, oldest first. Kept when an alarm is deleted,
# as CloudWatch does.
HISTORY: dict[tuple[str, str], list[dict[str, Any]]] = {}


class InvalidNextToken(CloudWatchException):
    code = "InvalidNextToken"


# ---------------------------------------------------------------------------
# time helpers


def utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def now() -> datetime:
    return utc(clock.get_clock().now())


def naive(ts: datetime) -> datetime:
    """moto keeps naive UTC datetimes; store ours the same way."""
    return utc(ts).replace(tzinfo=None)


def aws_date(ts: datetime) -> str:
    """2025-05-15T15:31:44.984+0000, the format of StateReasonData and HistoryData."""
    ts = utc(ts)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+0000"


def reason_date(ts: datetime) -> str:
    """22/11/26 10:31:00, the format inside StateReason."""
    return utc(ts).strftime("%d/%m/%y %H:%M:%S")


def bucket_start(ts: datetime, period: int) -> datetime:
    seconds = (utc(ts) - EPOCH).total_seconds()
    return EPOCH + timedelta(seconds=math.floor(seconds / period) * period)


def fmt_number(value: float) -> str:
    return repr(float(value))


# ---------------------------------------------------------------------------
# metric data


def dim_key(dimensions) -> frozenset:
    out = set()
    for d in dimensions or []:
        if isinstance(d, dict):
            out.add((d.get("Name"), d.get("Value")))
        else:
            out.add((d.name, d.value))
    return frozenset(out)


def matching_data(backend: CloudWatchBackend, namespace, name, dimensions, unit=None, start=None, end=None, everything=False):
    """Datums of one metric (exact dimension set), optionally within [start, end)."""
    wanted = dim_key(dimensions)
    source = backend.get_all_metrics() if everything else list(backend.metric_data)
    out = []
    for md in source:
        if md.namespace != namespace or md.name != name:
            continue
        if unit and md.unit != unit:
            continue
        if dim_key(md.dimensions) != wanted:
            continue
        ts = utc(md.timestamp)
        if start is not None and ts < start:
            continue
        if end is not None and ts >= end:
            continue
        out.append(md)
    return out


def stat_value(datums, stat: str) -> float | None:
    singles = [d.value for d in datums if isinstance(d, MetricDatum)]
    aggs = [d for d in datums if isinstance(d, MetricAggregatedDatum)]
    count = len(singles) + sum(a.sample_count for a in aggs)
    if count == 0:
        return None
    total = sum(singles) + sum(a.sum for a in aggs)
    if stat == "SampleCount":
        return float(count)
    if stat == "Sum":
        return float(total)
    if stat == "Average":
        return float(total) / count
    if stat == "Minimum":
        return float(min(singles + [a.min for a in aggs]))
    if stat == "Maximum":
        return float(max(singles + [a.max for a in aggs]))
    if stat.startswith("p"):
        try:
            q = float(stat[1:])
        except ValueError:
            return None
        values = sorted(singles)
        if not values:
            return None
        rank = max(1, math.ceil(q / 100.0 * len(values)))
        return float(values[min(rank, len(values)) - 1])
    return None


def sample_count(datums) -> float:
    return float(
        sum(1 for d in datums if isinstance(d, MetricDatum))
        + sum(d.sample_count for d in datums if isinstance(d, MetricAggregatedDatum))
    )


def buckets(datums, period: int) -> dict[datetime, list]:
    out: dict[datetime, list] = {}
    for md in datums:
        out.setdefault(bucket_start(md.timestamp, period), []).append(md)
    return out


# ---------------------------------------------------------------------------
# patched backend methods

_orig_put_metric_alarm = CloudWatchBackend.put_metric_alarm
_orig_put_metric_data = CloudWatchBackend.put_metric_data


def _alarm_config(alarm) -> dict[str, Any]:
    cfg = {
        "alarmName": alarm.name,
        "alarmArn": alarm.alarm_arn,
        "namespace": alarm.namespace,
        "metricName": alarm.metric_name,
        "dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
        "statistic": alarm.statistic,
        "extendedStatistic": alarm.extended_statistic,
        "period": alarm.period,
        "evaluationPeriods": alarm.evaluation_periods,
        "datapointsToAlarm": alarm.datapoints_to_alarm,
        "threshold": alarm.threshold,
        "comparisonOperator": alarm.comparison_operator,
        "treatMissingData": alarm.treat_missing_data,
        "actionsEnabled": alarm.actions_enabled,
        "alarmActions": list(alarm.alarm_actions or []),
        "okActions": list(alarm.ok_actions or []),
        "insufficientDataActions": list(alarm.insufficient_data_actions or []),
        "alarmDescription": alarm.description,
        "unit": alarm.unit,
    }
    return {k: v for k, v in cfg.items() if v not in (None, [])}


def _alarm_type(alarm) -> str:
    return "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"


def _add_history(backend, alarm, item_type: str, summary: str, data: dict, at: datetime) -> None:
    item = {
        "AlarmName": alarm.name,
        "AlarmType": _alarm_type(alarm),
        "Timestamp": naive(at),
        "HistoryItemType": item_type,
        "HistorySummary": summary,
        "HistoryData": json.dumps(data, separators=(",", ":")),
    }
    HISTORY.setdefault((backend.account_id, backend.region_name), []).append(item)


def put_metric_alarm(self, name, *args, **kwargs):
    with STATE_LOCK:
        old = self.alarms.get(name)
        old_config = _alarm_config(old) if old is not None else None
        alarm = _orig_put_metric_alarm(self, name, *args, **kwargs)
        at = now()
        if old is not None:
            # PutMetricAlarm on an existing alarm overwrites its configuration but
            # leaves its state as it is.
            for attr in (
                "state_value",
                "state_reason",
                "state_reason_data",
                "state_updated_timestamp",
                "state_transitioned_timestamp",
                "_localaws_manual_at",
            ):
                if hasattr(old, attr):
                    setattr(alarm, attr, getattr(old, attr))
            summary = f'Alarm "{name}" updated'
            data = {"version": "1.0", "type": "Update", "originalAlarm": old_config, "updatedAlarm": _alarm_config(alarm)}
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = "Unchecked: Initial alarm creation"
            alarm.state_reason_data = None
            alarm.state_updated_timestamp = naive(at)
            alarm.state_transitioned_timestamp = naive(at)
            summary = f'Alarm "{name}" created'
            data = {"version": "1.0", "type": "Create", "createdAlarm": _alarm_config(alarm)}
        alarm.configuration_updated_timestamp = naive(at)
        alarm.alarm_configuration_updated_timestamp = naive(at)
        _add_history(self, alarm, "ConfigurationUpdate", summary, data, at)
        return alarm


def _state_dict(value: str, reason: str, reason_data: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"stateValue": value, "stateReason": reason}
    if reason_data:
        try:
            parsed = json.loads(reason_data)
        except ValueError:
            parsed = None
        if parsed:
            out["stateReasonData"] = parsed
    return out


def transition(backend, alarm, new_state: str, reason: str, reason_data: str | None, manual: bool = False) -> bool:
    """Set an alarm's state; records history when the state value changes."""
    with STATE_LOCK:
        at = now()
        old_state, old_reason, old_data = alarm.state_value, alarm.state_reason, alarm.state_reason_data
        changed = old_state != new_state
        alarm.state_value = new_state
        alarm.state_reason = reason
        alarm.state_reason_data = reason_data
        alarm.state_updated_timestamp = naive(at)
        if changed:
            alarm.state_transitioned_timestamp = naive(at)
        if manual:
            alarm._localaws_manual_at = at
        if changed:
            data = {
                "version": "1.0",
                "oldState": _state_dict(old_state, old_reason, old_data),
                "newState": _state_dict(new_state, reason, reason_data),
            }
            _add_history(backend, alarm, "StateUpdate", f"Alarm updated from {old_state} to {new_state}", data, at)
            TIMELINE.record("alarm", alarm=alarm.name, old_state=old_state, new_state=new_state, manual=manual)
        return changed


def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
    try:
        if reason_data is not None:
            json.loads(reason_data)
    except ValueError:
        raise InvalidFormat("Unknown")
    if alarm_name not in self.alarms:
        raise ResourceNotFound("Unknown")
    if state_value not in STATES:
        raise ValidationError(
            "1 validation error detected: "
            f"Value '{state_value}' at 'stateValue' failed to satisfy constraint: "
            "Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
        )
    transition(self, self.alarms[alarm_name], state_value, reason, reason_data, manual=True)


def put_metric_data(self, namespace, metric_data):
    # Data without a timestamp belongs to emulated "now", not to the real time.
    stamped = []
    for member in metric_data:
        member = dict(member)
        if not member.get("Timestamp"):
            member["Timestamp"] = naive(now())
        elif isinstance(member["Timestamp"], datetime):
            member["Timestamp"] = naive(member["Timestamp"])
        stamped.append(member)
    return _orig_put_metric_data(self, namespace, stamped)


def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
    start, end = utc(start_time), utc(end_time)
    if start > end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start == end:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
    results, to_return = [], []
    for query in queries:
        if "MetricStat" not in query:
            continue
        ms = query["MetricStat"]
        metric = ms["Metric"]
        period = int(ms["Period"])
        stat = ms["Stat"]
        first = bucket_start(start, period)
        datums = matching_data(
            self, metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions", []),
            ms.get("Unit"), first, end, everything=True,
        )
        points = []
        for ts, group in buckets(datums, period).items():
            value = stat_value(group, stat)
            if value is not None:
                points.append((ts, value))
        points.sort(key=lambda p: p[0], reverse=(scan_by == "TimestampDescending"))
        result = {
            "id": query["Id"],
            "label": query.get("Label") or metric.get("MetricName"),
            "values": [v for _, v in points],
            "timestamps": [naive(t) for t, _ in points],
            "status_code": "Complete",
        }
        results.append(result)
        if query.get("ReturnData", True) not in (False, "false"):
            to_return.append(result)
    for query in queries:
        if "Expression" not in query:
            continue
        # Only expressions that name another query are understood (as in moto).
        values, timestamps = cw_models.parse_expression(query["Expression"], results)
        to_return.append(
            {
                "id": query["Id"],
                "label": query.get("Label") or query["Id"],
                "values": values,
                "timestamps": timestamps,
                "status_code": "Complete",
            }
        )
    return to_return


def get_metric_statistics(self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit=None):
    start, end = utc(start_time), utc(end_time)
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    period = int(period)
    datums = matching_data(self, namespace, metric_name, dimensions, unit, bucket_start(start, period), end, everything=True)
    out = []
    for ts, group in sorted(buckets(datums, period).items()):
        s = Statistics(stats, naive(ts), unit or group[0].unit)
        s.metric_data = group
        out.append(s)
    return out


def get_filtered_metrics(self, metric_name, namespace, dimensions):
    """ListMetrics: one entry per metric (namespace, name, exact dimension set).
    moto's own deduplication fails for metrics with two or more dimensions."""
    wanted = [(d.get("Name"), d.get("Value") or None) for d in dimensions or []]
    seen, out = set(), []
    for md in self.get_all_metrics():
        if namespace and md.namespace != namespace:
            continue
        if metric_name and md.name != metric_name:
            continue
        have = dim_key(md.dimensions)
        if any(not any(n == name and (value is None or v == value) for n, v in have) for name, value in wanted):
            continue
        key = (md.namespace, md.name, have)
        if key in seen:
            continue
        seen.add(key)
        out.append(md)
    return out


CloudWatchBackend.get_filtered_metrics = get_filtered_metrics
CloudWatchBackend.put_metric_alarm = put_metric_alarm
CloudWatchBackend.set_alarm_state = set_alarm_state
CloudWatchBackend.put_metric_data = put_metric_data
CloudWatchBackend.get_metric_data = get_metric_data
CloudWatchBackend.get_metric_statistics = get_metric_statistics


# ---------------------------------------------------------------------------
# DescribeAlarmHistory


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
    except (ValueError, KeyError, TypeError):
        raise InvalidNextToken("The service returned an invalid NextToken.")
    if offset < 0:
        raise InvalidNextToken("The service returned an invalid NextToken.")
    return offset


def alarm_history(backend, alarm_name=None, item_type=None, start=None, end=None, alarm_types=None, scan_by=None):
    with STATE_LOCK:
        items = list(HISTORY.get((backend.account_id, backend.region_name), []))
    types = alarm_types or ["MetricAlarm"]
    out = []
    for item in items:
        if alarm_name and item["AlarmName"] != alarm_name:
            continue
        if item_type and item["HistoryItemType"] != item_type:
            continue
        if item["AlarmType"] not in types:
            continue
        ts = utc(item["Timestamp"])
        if start is not None and ts < utc(start):
            continue
        if end is not None and ts > utc(end):
            continue
        out.append(item)
    # Stable sort keeps insertion order among equal timestamps.
    out.sort(key=lambda i: i["Timestamp"], reverse=(scan_by or "TimestampDescending") == "TimestampDescending")
    return out


def describe_alarm_history(self) -> ActionResult:
    max_records = self._get_param("MaxRecords")
    max_records = 100 if max_records in (None, "") else int(max_records)
    if max_records < 1 or max_records > 100:
        raise InvalidParameterValue(f"The value {max_records} for parameter MaxRecords is not valid.")
    item_type = self._get_param("HistoryItemType")
    scan_by = self._get_param("ScanBy")
    if scan_by and scan_by not in ("TimestampDescending", "TimestampAscending"):
        raise ValidationError(
            f"1 validation error detected: Value '{scan_by}' at 'scanBy' failed to satisfy constraint: "
            "Member must satisfy enum value set: [TimestampDescending, TimestampAscending]"
        )
    items = alarm_history(
        self.cloudwatch_backend,
        alarm_name=self._get_param("AlarmName"),
        item_type=item_type,
        start=_param_time(self._get_param("StartDate")),
        end=_param_time(self._get_param("EndDate")),
        alarm_types=self._get_param("AlarmTypes", []),
        scan_by=scan_by,
    )
    token = self._get_param("NextToken")
    offset = _decode_token(token) if token else 0
    if offset > len(items):
        raise InvalidNextToken("The service returned an invalid NextToken.")
    page = items[offset : offset + max_records]
    result: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + max_records < len(items):
        result["NextToken"] = _encode_token(offset + max_records)
    return ActionResult(result)


def _param_time(value):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromtimestamp(float(text), tz=timezone.utc)


CloudWatchResponse.describe_alarm_history = describe_alarm_history


# ---------------------------------------------------------------------------
# Evaluation


def _breaches(value: float, operator: str, threshold: float) -> bool:
    if operator == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if operator == "GreaterThanThreshold":
        return value > threshold
    if operator == "LessThanThreshold":
        return value < threshold
    if operator == "LessThanOrEqualToThreshold":
        return value <= threshold
    raise ValueError(operator)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _late_periods(backend, alarm, window_end: datetime, period: int) -> int:
    """How many of the newest periods before `window_end` to skip because their data has
    not arrived yet (setting `alarm_eval_lookback_periods`): the newest period with data
    within that range ends the window. 0 when the setting is 0 or no period has data."""
    lookback = int(settings.get("alarm_eval_lookback_periods") or 0)
    if lookback <= 0:
        return 0
    start = window_end - timedelta(seconds=period * (lookback + 1))
    datums = matching_data(backend, alarm.namespace, alarm.metric_name, alarm.dimensions, alarm.unit, start, window_end)
    grouped = buckets(datums, period)
    for k in range(lookback + 1):
        if grouped.get(window_end - timedelta(seconds=period * (k + 1))):
            return k
    return 0


def evaluate(backend, alarm, at: datetime | None = None) -> tuple[str, str, str] | None:
    """The state that an alarm's data calls for: (state, reason, reason data JSON),
    or None when the alarm keeps its state (TreatMissingData ignore, unsupported)."""
    if alarm.rule is not None or alarm.metric_data_queries or not alarm.metric_name:
        # Composite and metric-math alarms are not evaluated; they keep the state
        # they were created with (INSUFFICIENT_DATA) or were set to.
        return None
    operator = alarm.comparison_operator
    if operator not in OPERATOR_TEXT:
        return None
    at = utc(at or now())
    period = int(alarm.period or 60)
    n = int(alarm.evaluation_periods or 1)
    m = int(alarm.datapoints_to_alarm or n)
    threshold = float(alarm.threshold)
    stat = alarm.statistic or alarm.extended_statistic or "Average"
    treat = alarm.treat_missing_data or "missing"

    window_end = bucket_start(at, period)  # start of the incomplete period
    window_end -= timedelta(seconds=period * _late_periods(backend, alarm, window_end, period))
    window_start = window_end - timedelta(seconds=period * n)
    datums = matching_data(backend, alarm.namespace, alarm.metric_name, alarm.dimensions, alarm.unit, window_start, window_end)
    grouped = buckets(datums, period)
    periods = [window_end - timedelta(seconds=period * (i + 1)) for i in range(n)]  # newest first
    present = []  # (ts, value, samples), newest first
    for ts in periods:
        group = grouped.get(ts)
        value = stat_value(group, stat) if group else None
        if value is not None:
            present.append((ts, value, sample_count(group)))
    missing = n - len(present)
    breaching = [p for p in present if _breaches(p[1], operator, threshold)]
    calm = [p for p in present if not _breaches(p[1], operator, threshold)]
    op_text = OPERATOR_TEXT[operator]

    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": aws_date(at),
        "startDate": aws_date(window_start),
        "statistic": stat,
        "period": period,
        "recentDatapoints": [p[1] for p in reversed(present)],
        "threshold": threshold,
    }
    if alarm.unit:
        data["unit"] = alarm.unit
    if present:
        evaluated = []
        for ts in periods:
            hit = next((p for p in present if p[0] == ts), None)
            if hit is not None:
                evaluated.append({"timestamp": aws_date(ts), "sampleCount": hit[2], "value": hit[1]})
            else:
                evaluated.append({"timestamp": aws_date(ts)})
        data["evaluatedDatapoints"] = evaluated

    def listing(points) -> str:
        return ", ".join(f"{fmt_number(v)} ({reason_date(ts)})" for ts, v, _ in points)

    if not present:
        if treat == "ignore":
            return None
        if treat == "breaching":
            state = "ALARM"
            reason = (
                f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
                f"{_plural(n, 'missing datapoint')} {'was' if n == 1 else 'were'} treated as [Breaching]."
            )
        elif treat == "notBreaching":
            state = "OK"
            reason = (
                f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
                f"{_plural(n, 'missing datapoint')} {'was' if n == 1 else 'were'} treated as [NonBreaching]."
            )
        else:
            state = "INSUFFICIENT_DATA"
            reason = f"Insufficient Data: {_plural(n, 'datapoint')} {'was' if n == 1 else 'were'} unknown."
        return state, reason, json.dumps(data, separators=(",", ":"))

    count_breaching = len(breaching) + (missing if treat == "breaching" else 0)
    if count_breaching >= m:
        state = "ALARM"
        if n == 1:
            reason = f"Threshold Crossed: 1 datapoint [{listing(breaching)}] was {op_text} the threshold ({fmt_number(threshold)})."
        else:
            reason = (
                f"Threshold Crossed: {count_breaching} out of the last {n} datapoints [{listing(breaching)}] "
                f"{'was' if count_breaching == 1 else 'were'} {op_text} the threshold ({fmt_number(threshold)}) "
                f"(minimum {_plural(m, 'datapoint')} for OK -> ALARM transition)."
            )
    else:
        state = "OK"
        count_calm = len(calm) + (missing if treat == "notBreaching" else 0)
        if n == 1:
            reason = f"Threshold Crossed: 1 datapoint [{listing(calm)}] was not {op_text} the threshold ({fmt_number(threshold)})."
        else:
            reason = (
                f"Threshold Crossed: {count_calm} out of the last {n} datapoints [{listing(calm)}] "
                f"{'was' if count_calm == 1 else 'were'} not {op_text} the threshold ({fmt_number(threshold)}) "
                f"(minimum {_plural(n - m + 1, 'datapoint')} for ALARM -> OK transition)."
            )
    return state, reason, json.dumps(data, separators=(",", ":"))


def backends():
    for _, per_region in list(cloudwatch_backends.items()):
        for _, backend in list(per_region.items()):
            yield backend


def evaluate_all(at: datetime | None = None) -> int:
    """One evaluation pass over every alarm; returns the number of state changes."""
    if not settings.get("alarm_evaluation", True):
        return 0
    at = utc(at or now())
    hold = float(settings.get("alarm_manual_hold_seconds") or 0)
    changes = 0
    for backend in backends():
        for alarm in list(backend.alarms.values()):
            if not settings.get("alarm_evaluation", True):
                return changes
            manual_at = getattr(alarm, "_localaws_manual_at", None)
            if manual_at is not None and hold > 0 and (at - manual_at).total_seconds() < hold:
                continue
            try:
                result = evaluate(backend, alarm, at)
            except (TypeError, ValueError, ArithmeticError):
                continue
            if result is None:
                continue
            state, reason, data = result
            with STATE_LOCK:
                if backend.alarms.get(alarm.name) is not alarm:
                    continue  # replaced or deleted meanwhile
                if state != alarm.state_value:
                    transition(backend, alarm, state, reason, data)
                    changes += 1
    return changes


@registry.background
def alarm_evaluation_loop(stop: threading.Event) -> None:
    last_report = 0.0
    while not stop.is_set():
        # A pass that fails (a reset can swap a backend's state from under it) must not
        # end the loop: alarms would never change state again for the rest of the run.
        try:
            evaluate_all()
        except Exception:  # noqa: BLE001 - keep evaluating; report at most every 5 s
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                print("localaws: alarm evaluation pass failed", file=sys.stderr)
                traceback.print_exc()
        interval = float(settings.get("alarm_eval_seconds") or 10)
        delay = max(0.05, clock.get_clock().real_seconds(interval))
        if stop.wait(delay):
            return


@registry.on_reset
def _clear_history() -> None:
    with STATE_LOCK:
        HISTORY.clear()
