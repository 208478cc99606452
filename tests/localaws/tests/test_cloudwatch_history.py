"""DescribeAlarmHistory: items from SetAlarmState and PutMetricAlarm, and its filters."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from localaws import settings


@pytest.fixture
def cw(aws_client):
    # Only SetAlarmState changes states here, so item counts are exact.
    settings.update({"alarm_evaluation": False})
    return aws_client("cloudwatch")


def make_alarm(cw, name):
    cw.put_metric_alarm(
        AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/web/1"}], Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def test_set_alarm_state_records_state_update(cw, aws_cli):
    make_alarm(cw, "h1")
    cw.set_alarm_state(AlarmName="h1", StateValue="ALARM", StateReason="forced by test")
    aws_cli("cloudwatch", "set-alarm-state", "--alarm-name", "h1", "--state-value", "OK", "--state-reason", "cli reset")

    items = cw.describe_alarm_history(AlarmName="h1", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    assert all(i["AlarmName"] == "h1" and i["AlarmType"] == "MetricAlarm" for i in items)
    first = json.loads(items[1]["HistoryData"])
    assert first == {
        "version": "1.0",
        "oldState": {"stateValue": "INSUFFICIENT_DATA", "stateReason": "Unchecked: Initial alarm creation"},
        "newState": {"stateValue": "ALARM", "stateReason": "forced by test"},
    }
    assert items[0]["Timestamp"] >= items[1]["Timestamp"]

    cli = aws_cli("cloudwatch", "describe-alarm-history", "--alarm-name", "h1", "--history-item-type", "StateUpdate")
    assert [i["HistorySummary"] for i in cli["AlarmHistoryItems"]] == [i["HistorySummary"] for i in items]
    assert json.loads(cli["AlarmHistoryItems"][0]["HistoryData"])["newState"]["stateReason"] == "cli reset"


def test_same_state_is_not_a_state_update(cw):
    make_alarm(cw, "h2")
    cw.set_alarm_state(AlarmName="h2", StateValue="ALARM", StateReason="one")
    cw.set_alarm_state(AlarmName="h2", StateValue="ALARM", StateReason="two")
    items = cw.describe_alarm_history(AlarmName="h2", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert len(items) == 1
    assert cw.describe_alarms(AlarmNames=["h2"])["MetricAlarms"][0]["StateReason"] == "two"


def test_reason_data_given_to_set_alarm_state_is_kept(cw):
    make_alarm(cw, "h3")
    cw.set_alarm_state(AlarmName="h3", StateValue="ALARM", StateReason="r", StateReasonData=json.dumps({"source": "test"}))
    data = json.loads(cw.describe_alarm_history(AlarmName="h3", HistoryItemType="StateUpdate")["AlarmHistoryItems"][0]["HistoryData"])
    assert data["newState"]["stateReasonData"] == {"source": "test"}
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName="h3", StateValue="OK", StateReason="r", StateReasonData="{not json")
    assert err.value.response["Error"]["Code"] == "InvalidFormat"


def test_configuration_updates_on_create_and_update_keep_state(cw):
    make_alarm(cw, "h4")
    cw.set_alarm_state(AlarmName="h4", StateValue="ALARM", StateReason="x")
    make_alarm(cw, "h4")  # update: state stays
    assert cw.describe_alarms(AlarmNames=["h4"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    items = cw.describe_alarm_history(AlarmName="h4", HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == ['Alarm "h4" updated', 'Alarm "h4" created']
    created = json.loads(items[1]["HistoryData"])
    assert created["type"] == "Create" and created["createdAlarm"]["metricName"] == "HTTPCode_Target_5XX_Count"
    assert json.loads(items[0]["HistoryData"])["type"] == "Update"


def test_filters_order_paging_and_retention_after_delete(cw):
    make_alarm(cw, "p1")
    make_alarm(cw, "p2")
    for i, state in enumerate(["ALARM", "OK", "ALARM", "OK", "ALARM"]):
        cw.set_alarm_state(AlarmName="p1", StateValue=state, StateReason=f"step {i}")
    cw.set_alarm_state(AlarmName="p2", StateValue="ALARM", StateReason="other")

    everything = cw.describe_alarm_history()["AlarmHistoryItems"]
    assert len(everything) == 2 + 5 + 1  # two creations, six state changes
    p1 = cw.describe_alarm_history(AlarmName="p1", HistoryItemType="StateUpdate", ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [json.loads(i["HistoryData"])["newState"]["stateReason"] for i in p1] == [f"step {i}" for i in range(5)]

    # Paging with MaxRecords follows NextToken to the same items.
    pages, token = [], None
    while True:
        kw = {"AlarmName": "p1", "HistoryItemType": "StateUpdate", "MaxRecords": 2, "ScanBy": "TimestampAscending"}
        if token:
            kw["NextToken"] = token
        resp = cw.describe_alarm_history(**kw)
        pages.append(resp["AlarmHistoryItems"])
        token = resp.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i["HistorySummary"] for p in pages for i in p] == [i["HistorySummary"] for i in p1]

    # Date range: StartDate/EndDate are inclusive bounds on the item timestamp.
    mid = p1[2]["Timestamp"]
    later = cw.describe_alarm_history(AlarmName="p1", HistoryItemType="StateUpdate", StartDate=mid)["AlarmHistoryItems"]
    assert len(later) == 3
    earlier = cw.describe_alarm_history(AlarmName="p1", HistoryItemType="StateUpdate", EndDate=mid - timedelta(microseconds=1000))["AlarmHistoryItems"]
    assert len(earlier) == 2

    cw.delete_alarms(AlarmNames=["p1"])
    assert len(cw.describe_alarm_history(AlarmName="p1")["AlarmHistoryItems"]) == 6


def test_bad_next_token_and_max_records(cw):
    with pytest.raises(ClientError) as err:
        cw.describe_alarm_history(NextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidNextToken"
    with pytest.raises(ClientError) as err:
        cw.describe_alarm_history(MaxRecords=101)
    assert err.value.response["Error"]["Code"] in ("InvalidParameterValue", "ValidationError")


def test_set_alarm_state_on_unknown_alarm(cw):
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName="ghost", StateValue="ALARM", StateReason="x")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
