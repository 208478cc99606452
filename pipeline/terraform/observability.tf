# The service's log group (the task definition's awslogs group; the rollback report
# reads green tasks' logs from it) and the 5xx alarm that the deployment group and
# `shipwatch deploy` watch while traffic shifts.

resource "aws_kms_key" "logs" {
  description         = "${local.name} service logs"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms_account_admin.json
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_cloudwatch_metric_alarm" "http_5xx" {
  alarm_name          = "${local.name}-5xx"
  alarm_description   = "${local.name}: target 5xx responses during or after a deployment; CodeDeploy rolls back when it fires."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 10
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # No requests means no 5xx: missing data must not hold a deployment in ALARM.
  treat_missing_data = "notBreaching"
  dimensions = {
    LoadBalancer = var.load_balancer_arn_suffix
  }
  # Into ALARM: notify, and let `shipwatch remediate` (remediate.tf) stop one bad task.
  alarm_actions = concat(var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn], [aws_lambda_function.remediate.arn])
  ok_actions    = var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn]
}
