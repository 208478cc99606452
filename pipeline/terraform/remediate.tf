# `shipwatch remediate` as a Lambda function (custom runtime provided.al2023; the
# shipwatch binary is the zip's `bootstrap`): the 5xx alarm invokes it directly on each
# state change, and it stops at most one unhealthy task per alarm state change and per
# cool-down, never during a deployment. Build the zip as the README says, then apply.

variable "remediate_zip" {
  description = "Zip holding the shipwatch binary as `bootstrap`, built for provided.al2023 (README: Remediation as a Lambda function)."
  type        = string
  default     = "../../target/lambda/shipwatch-remediate.zip"
}

variable "remediate_architecture" {
  description = "Architecture the zip was built for: x86_64 (scripts/build-portable.sh) or arm64."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.remediate_architecture)
    error_message = "remediate_architecture must be arm64 or x86_64."
  }
}

variable "remediate_cool_down" {
  description = "At most one stop per this window, whatever the alarm."
  type        = string
  default     = "10m"
}

variable "remediate_min_healthy" {
  description = "Healthy running tasks that must remain after a stop."
  type        = number
  default     = 1
}

locals {
  remediate_name = "${local.name}-remediate"
  task_arns      = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:task/${var.cluster_name}/*"
}

resource "aws_kms_key" "remediate" {
  description         = "${local.remediate_name}: environment, dead-letter queue and logs"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms_account_admin.json
}

resource "aws_cloudwatch_log_group" "remediate" {
  name              = "/aws/lambda/${local.remediate_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.remediate.arn
}

# Alarm invocations are asynchronous; one that failed every retry lands here.
resource "aws_sqs_queue" "remediate_dlq" {
  name                              = "${local.remediate_name}-dlq"
  kms_master_key_id                 = aws_kms_key.remediate.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
}

data "aws_iam_policy_document" "remediate_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "remediate" {
  name               = local.remediate_name
  description        = "shipwatch remediate for ${local.name}: stops one unhealthy task"
  assume_role_policy = data.aws_iam_policy_document.remediate_trust.json
}

# Least privilege: task calls only in this cluster, the service, its deployment group,
# its log group. Describe calls that AWS cannot scope to a resource use "*".
data "aws_iam_policy_document" "remediate" {
  statement {
    sid       = "ListServiceTasks"
    actions   = ["ecs:ListTasks"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  statement {
    sid       = "ReadAndStopTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.task_arns]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  # Who owns the service right now (task sets, rollouts) and its target groups.
  statement {
    sid       = "ReadService"
    actions   = ["ecs:DescribeServices"]
    resources = [local.service_arn]
  }

  # Where a task's logs are (awslogs options); no resource-level permissions.
  statement {
    sid       = "ReadTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"]
  }

  # No resource-level permissions for ELBv2 Describe calls.
  statement {
    sid       = "ReadTargetHealth"
    actions   = ["elasticloadbalancing:DescribeTargetHealth"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadServiceLogs"
    actions   = ["logs:FilterLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }

  statement {
    sid       = "SeeDeployments"
    actions   = ["codedeploy:ListDeployments"]
    resources = [local.codedeploy_group]
  }

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.remediate.arn}:*"]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.remediate_dlq.arn]
  }

  statement {
    sid       = "OwnKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.remediate.arn]
  }

  # X-Ray has no resource-level permissions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "remediate" {
  name   = "remediate"
  role   = aws_iam_role.remediate.id
  policy = data.aws_iam_policy_document.remediate.json
}

resource "aws_lambda_function" "remediate" {
  function_name    = local.remediate_name
  description      = "shipwatch remediate: stop one unhealthy task of ${var.ecs_service_name} when ${aws_cloudwatch_metric_alarm.http_5xx.alarm_name} goes into ALARM"
  role             = aws_iam_role.remediate.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.remediate_architecture]
  filename         = var.remediate_zip
  source_code_hash = filebase64sha256(var.remediate_zip)
  memory_size      = 256
  kms_key_arn      = aws_kms_key.remediate.arn
  # Above the wait for the replacement (3 minutes by default) and the AWS calls around it.
  timeout = 300
  # The guards make concurrent invocations safe; this bounds what a flapping alarm costs.
  reserved_concurrent_executions = 2

  environment {
    variables = {
      SHIPWATCH_CLUSTER               = var.cluster_name
      SHIPWATCH_SERVICE               = var.ecs_service_name
      SHIPWATCH_CONTAINER             = var.service
      SHIPWATCH_APPLICATION           = aws_codedeploy_app.app.name
      SHIPWATCH_DEPLOYMENT_GROUP      = aws_codedeploy_deployment_group.app.deployment_group_name
      SHIPWATCH_REMEDIATE_COOL_DOWN   = var.remediate_cool_down
      SHIPWATCH_REMEDIATE_MIN_HEALTHY = tostring(var.remediate_min_healthy)
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.remediate_dlq.arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.remediate.name
  }

  depends_on = [aws_iam_role_policy.remediate]
}

# Only the 5xx alarm of this account may invoke it.
resource "aws_lambda_permission" "alarm" {
  statement_id   = "AllowCloudWatchAlarm"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.remediate.function_name
  principal      = "lambda.alarms.cloudwatch.amazonaws.com"
  source_arn     = aws_cloudwatch_metric_alarm.http_5xx.arn
  source_account = local.account_id
}

output "remediate_function" {
  value = aws_lambda_function.remediate.function_name
}
