"""Alarm evaluation from metric data: the rules in isolation, then end to end."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import control, wait_for
from moto.cloudwatch.models import cloudwatch_backends

from localaws import clock, cloudwatch, settings

ACCOUNT = "111122223333"  # away from the default account the end-to-end tests use
T0 = datetime(2026, 3, 4, 10, 31, 0, tzinfo=timezone.utc)  # a period boundary
LB = [{"Name": "LoadBalancer", "Value": "app/web/0123456789abcdef"}, {"Name": "TargetGroup", "Value": "targetgroup/green/fedcba9876543210"}]


@pytest.fixture
def backend(aws_endpoint):
    # The loop must not change these alarms while a test inspects them.
    settings.update({"alarm_evaluation": False})
    b = cloudwatch_backends[ACCOUNT]["eu-west-1"]
    yield b
    b.alarms.clear()
    b.metric_data.clear()


def alarm(backend, name="a", **kw):
    args = dict(
        name=name, namespace="AWS/ApplicationELB", metric_name="HTTPCode_Target_5XX_Count",
        comparison_operator="GreaterThanOrEqualToThreshold", evaluation_periods=1, period=60,
        threshold=1.0, statistic="Sum", description="", dimensions=LB, alarm_actions=[],
        treat_missing_data="notBreaching",
    )
    args.update(kw)
    return backend.put_metric_alarm(**args)


def put(backend, ts, value, dims=LB, name="HTTPCode_Target_5XX_Count"):
    backend.put_metric_data("AWS/ApplicationELB", [{"MetricName": name, "Value": value, "Timestamp": ts, "Dimensions": dims}])


def at(minutes_after_t0: float) -> datetime:
    return T0 + timedelta(minutes=minutes_after_t0)


def test_new_alarm_starts_insufficient_data(backend):
    a = alarm(backend)
    assert a.state_value == "INSUFFICIENT_DATA"
    assert a.state_reason == "Unchecked: Initial alarm creation"


def test_single_breaching_datapoint_sets_alarm_with_aws_wording(backend):
    a = alarm(backend)
    put(backend, at(0) + timedelta(seconds=5), 3.0)
    put(backend, at(0) + timedelta(seconds=40), 2.0)
    state, reason, data = cloudwatch.evaluate(backend, a, at(1) + timedelta(seconds=12))
    assert state == "ALARM"
    assert reason == "Threshold Crossed: 1 datapoint [5.0 (04/03/26 10:31:00)] was greater than or equal to the threshold (1.0)."
    data = json.loads(data)
    assert data["version"] == "1.0"
    assert data["queryDate"] == "2026-03-04T10:32:12.000+0000"
    assert data["startDate"] == "2026-03-04T10:31:00.000+0000"
    assert data["statistic"] == "Sum" and data["period"] == 60 and data["threshold"] == 1.0
    assert data["recentDatapoints"] == [5.0]
    assert data["evaluatedDatapoints"] == [{"timestamp": "2026-03-04T10:31:00.000+0000", "sampleCount": 2.0, "value": 5.0}]


def test_incomplete_period_is_not_evaluated(backend):
    a = alarm(backend)
    put(backend, at(1) + timedelta(seconds=5), 9.0)
    state, reason, _ = cloudwatch.evaluate(backend, a, at(1) + timedelta(seconds=30))
    assert state == "OK"
    assert reason == "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."


def test_dimension_set_must_match_exactly(backend):
    a = alarm(backend)
    put(backend, at(0), 9.0, dims=LB + [{"Name": "AvailabilityZone", "Value": "eu-west-1a"}])
    put(backend, at(0), 9.0, dims=LB[:1])
    state, _, _ = cloudwatch.evaluate(backend, a, at(1.5))
    assert state == "OK"
    put(backend, at(0), 9.0, dims=list(reversed(LB)))  # order does not matter
    assert cloudwatch.evaluate(backend, a, at(1.5))[0] == "ALARM"


def test_m_out_of_n(backend):
    a = alarm(backend, evaluation_periods=3, datapoints_to_alarm=2)
    put(backend, at(0), 5.0)
    put(backend, at(1), 0.0)
    put(backend, at(2), 4.0)
    state, reason, data = cloudwatch.evaluate(backend, a, at(3.2))
    assert state == "ALARM"
    assert reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [4.0 (04/03/26 10:33:00), 5.0 (04/03/26 10:31:00)] "
        "were greater than or equal to the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    assert json.loads(data)["recentDatapoints"] == [5.0, 0.0, 4.0]

    b = alarm(backend, name="b", evaluation_periods=3, datapoints_to_alarm=3)
    state, reason, _ = cloudwatch.evaluate(backend, b, at(3.2))
    assert state == "OK"
    assert reason.startswith("Threshold Crossed: 1 out of the last 3 datapoints [0.0 (04/03/26 10:32:00)] was not greater than or equal to")
    assert reason.endswith("(minimum 1 datapoint for ALARM -> OK transition).")


@pytest.mark.parametrize(
    "treat,expected",
    [
        ("missing", ("INSUFFICIENT_DATA", "Insufficient Data: 2 datapoints were unknown.")),
        (None, ("INSUFFICIENT_DATA", "Insufficient Data: 2 datapoints were unknown.")),
        ("breaching", ("ALARM", "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching].")),
        ("notBreaching", ("OK", "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [NonBreaching].")),
        ("ignore", None),
    ],
)
def test_treat_missing_data_without_any_datapoint(backend, treat, expected):
    a = alarm(backend, evaluation_periods=2, treat_missing_data=treat)
    result = cloudwatch.evaluate(backend, a, at(5))
    assert (result[:2] if result else None) == expected


def test_missing_datapoints_count_as_breaching_when_asked(backend):
    a = alarm(backend, evaluation_periods=3, datapoints_to_alarm=3, treat_missing_data="breaching")
    put(backend, at(2), 7.0)
    assert cloudwatch.evaluate(backend, a, at(3))[0] == "ALARM"
    a2 = alarm(backend, name="a2", evaluation_periods=3, datapoints_to_alarm=3, treat_missing_data="notBreaching")
    assert cloudwatch.evaluate(backend, a2, at(3))[0] == "OK"


@pytest.mark.parametrize(
    "statistic,operator,threshold,expected",
    [
        ("Average", "GreaterThanThreshold", 2.0, "ALARM"),  # (1+2+6)/3 = 3
        ("Average", "GreaterThanThreshold", 3.0, "OK"),
        ("Maximum", "GreaterThanOrEqualToThreshold", 6.0, "ALARM"),
        ("Minimum", "LessThanThreshold", 1.0, "OK"),
        ("Minimum", "LessThanOrEqualToThreshold", 1.0, "ALARM"),
        ("SampleCount", "GreaterThanOrEqualToThreshold", 3.0, "ALARM"),
        ("Sum", "LessThanThreshold", 9.0, "OK"),
    ],
)
def test_statistics_and_operators(backend, statistic, operator, threshold, expected):
    a = alarm(backend, statistic=statistic, comparison_operator=operator, threshold=threshold, metric_name="TargetResponseTime")
    for v in (1.0, 2.0, 6.0):
        put(backend, at(0) + timedelta(seconds=v), v, name="TargetResponseTime")
    assert cloudwatch.evaluate(backend, a, at(1.1))[0] == expected


def test_metric_math_alarms_are_left_alone(backend):
    from moto.cloudwatch.models import MetricDataQuery

    a = alarm(backend, metric_name=None, namespace=None, statistic=None, metric_data_queries=[MetricDataQuery("e1", "", "60", "true", expression="m1*2")])
    assert cloudwatch.evaluate(backend, a, at(2)) is None
    assert a.state_value == "INSUFFICIENT_DATA"


# ---------------------------------------------------------------------------
# end to end through the server (1 real second per emulated minute)


def create_alb_alarm(cw, name="web-5xx", treat="notBreaching"):
    cw.put_metric_alarm(
        AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=LB, Statistic="Sum", Period=60, EvaluationPeriods=1, DatapointsToAlarm=1,
        Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData=treat,
    )


def put_5xx(cw, value=5.0):
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[{"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": LB, "Value": value, "Unit": "Count", "Timestamp": clock.get_clock().now()}],
    )


def state_of(cw, name):
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_alb_alarm_goes_to_alarm_on_data_and_back_to_ok_when_data_stops(aws_client, aws_cli):
    cw = aws_client("cloudwatch")
    create_alb_alarm(cw)
    wait_for(lambda: state_of(cw, "web-5xx")["StateValue"] == "OK", 15, "first evaluation (no data, notBreaching) to set OK")

    def feed_until_alarm():
        put_5xx(cw)
        return state_of(cw, "web-5xx")["StateValue"] == "ALARM"

    wait_for(feed_until_alarm, 20, "the alarm to go to ALARM while 5xx data arrives", interval=0.2)
    alarm_state = state_of(cw, "web-5xx")
    assert re.fullmatch(
        r"Threshold Crossed: 1 datapoint \[\d+\.\d+ \(\d\d/\d\d/\d\d \d\d:\d\d:00\)\] was greater than or equal to the threshold \(1\.0\)\.",
        alarm_state["StateReason"],
    ), alarm_state["StateReason"]
    reason_data = json.loads(alarm_state["StateReasonData"])
    assert reason_data["statistic"] == "Sum" and reason_data["period"] == 60
    assert reason_data["evaluatedDatapoints"][0]["value"] >= 5.0
    assert alarm_state["StateTransitionedTimestamp"] >= alarm_state["AlarmConfigurationUpdatedTimestamp"]

    wait_for(lambda: state_of(cw, "web-5xx")["StateValue"] == "OK", 20, "the alarm to return to OK once data stops")

    items = cw.describe_alarm_history(AlarmName="web-5xx", HistoryItemType="StateUpdate", ScanBy="TimestampAscending")["AlarmHistoryItems"]
    summaries = [i["HistorySummary"] for i in items]
    assert summaries[-2:] == ["Alarm updated from OK to ALARM", "Alarm updated from ALARM to OK"], summaries
    to_alarm = json.loads(items[-2]["HistoryData"])
    assert to_alarm["oldState"]["stateValue"] == "OK"
    new = to_alarm["newState"]
    assert new["stateValue"] == "ALARM" and new["stateReason"].startswith("Threshold Crossed: 1 datapoint [")
    assert {"version", "queryDate", "startDate", "statistic", "period", "recentDatapoints", "threshold", "evaluatedDatapoints"} <= set(new["stateReasonData"])
    back = json.loads(items[-1]["HistoryData"])["newState"]
    assert back["stateReason"].endswith("treated as [NonBreaching].")

    # The AWS CLI sees the same history and state.
    cli_items = aws_cli("cloudwatch", "describe-alarm-history", "--alarm-name", "web-5xx", "--history-item-type", "StateUpdate")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in cli_items][:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]
    cli_alarm = aws_cli("cloudwatch", "describe-alarms", "--alarm-names", "web-5xx")["MetricAlarms"][0]
    assert cli_alarm["StateValue"] == "OK"


def test_set_alarm_state_is_reevaluated_from_data(aws_client):
    cw = aws_client("cloudwatch")
    create_alb_alarm(cw, name="sticky")
    wait_for(lambda: state_of(cw, "sticky")["StateValue"] == "OK", 15, "first evaluation")
    cw.set_alarm_state(AlarmName="sticky", StateValue="ALARM", StateReason="drill")
    assert state_of(cw, "sticky")["StateValue"] == "ALARM"
    # No data and notBreaching: the next evaluation puts it back to OK, as on AWS.
    wait_for(lambda: state_of(cw, "sticky")["StateValue"] == "OK", 15, "evaluation to override the manual ALARM")
    summaries = [i["HistorySummary"] for i in cw.describe_alarm_history(AlarmName="sticky", HistoryItemType="StateUpdate")["AlarmHistoryItems"]]
    assert summaries[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]


def test_manual_hold_keeps_a_set_state_for_a_while(aws_client, aws_endpoint):
    cw = aws_client("cloudwatch")
    create_alb_alarm(cw, name="held")
    wait_for(lambda: state_of(cw, "held")["StateValue"] == "OK", 15, "first evaluation")
    assert control(aws_endpoint, "POST", "/_localaws/config", {"alarm_manual_hold_seconds": 600})[0] == 200
    cw.set_alarm_state(AlarmName="held", StateValue="ALARM", StateReason="drill")
    before = clock.get_clock().now()
    wait_for(lambda: (clock.get_clock().now() - before).total_seconds() > 60, 10, "a few evaluation rounds")
    assert state_of(cw, "held")["StateValue"] == "ALARM"
    assert control(aws_endpoint, "POST", "/_localaws/config", {"alarm_manual_hold_seconds": 0})[0] == 200
    wait_for(lambda: state_of(cw, "held")["StateValue"] == "OK", 15, "evaluation to resume after the hold")


def test_get_metric_data_sums_per_aligned_period(aws_client):
    cw = aws_client("cloudwatch")
    base = datetime(2026, 2, 1, 12, 0, 0, tzinfo=timezone.utc)
    data = [(base + timedelta(seconds=s), v) for s, v in ((5, 1.0), (30, 2.0), (59, 3.0), (65, 10.0), (185, 4.0))]
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[{"MetricName": "RequestCount", "Dimensions": LB, "Value": v, "Timestamp": ts} for ts, v in data]
        + [{"MetricName": "RequestCount", "Dimensions": LB[:1], "Value": 100.0, "Timestamp": base}],
    )
    res = cw.get_metric_data(
        MetricDataQueries=[{"Id": "rc", "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount", "Dimensions": LB}, "Period": 60, "Stat": "Sum"}}],
        StartTime=base + timedelta(seconds=20), EndTime=base + timedelta(minutes=10), ScanBy="TimestampAscending",
    )["MetricDataResults"][0]
    assert res["Id"] == "rc" and res["StatusCode"] == "Complete"
    assert res["Values"] == [6.0, 10.0, 4.0]
    assert [t.astimezone(timezone.utc) for t in res["Timestamps"]] == [base, base + timedelta(minutes=1), base + timedelta(minutes=3)]

    stats = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB", MetricName="RequestCount", Dimensions=LB, StartTime=base,
        EndTime=base + timedelta(minutes=10), Period=120, Statistics=["Sum", "Maximum", "SampleCount"],
    )["Datapoints"]
    by_ts = {d["Timestamp"].astimezone(timezone.utc): d for d in stats}
    assert by_ts[base]["Sum"] == 16.0 and by_ts[base]["Maximum"] == 10.0 and by_ts[base]["SampleCount"] == 4.0
    assert by_ts[base + timedelta(minutes=2)]["Sum"] == 4.0


def test_put_metric_data_without_timestamp_uses_emulated_time(aws_client):
    cw = aws_client("cloudwatch")
    # Emulated time must be clearly ahead of real time for the check to mean anything.
    wait_for(lambda: clock.get_clock().now() - datetime.now(timezone.utc) > timedelta(minutes=3), 10, "emulated time to run ahead")
    cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "Hits", "Value": 2.0}])
    now = clock.get_clock().now()
    res = cw.get_metric_data(
        MetricDataQueries=[{"Id": "h", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Hits"}, "Period": 60, "Stat": "Sum"}}],
        StartTime=now - timedelta(minutes=2), EndTime=now + timedelta(minutes=2),
    )["MetricDataResults"][0]
    assert res["Values"] == [2.0]


def test_list_metrics_lists_each_metric_once(aws_client):
    cw = aws_client("cloudwatch")
    now = clock.get_clock().now()
    other = [LB[0], {"Name": "TargetGroup", "Value": "targetgroup/blue/1111111111111111"}]
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[{"MetricName": "RequestCount", "Dimensions": dims, "Value": 1.0, "Timestamp": now - timedelta(seconds=i)}
                    for i in range(5) for dims in (LB, other)],
    )
    metrics = cw.list_metrics(Namespace="AWS/ApplicationELB")["Metrics"]
    assert len(metrics) == 2
    only_green = cw.list_metrics(Namespace="AWS/ApplicationELB", Dimensions=[LB[1]])["Metrics"]
    assert [sorted((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in only_green] == [sorted((d["Name"], d["Value"]) for d in LB)]
    by_name = cw.list_metrics(Namespace="AWS/ApplicationELB", Dimensions=[{"Name": "TargetGroup"}])["Metrics"]
    assert len(by_name) == 2
