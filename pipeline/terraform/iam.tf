# The role Jenkins assumes for ECR Push, Task Definition Registration and Blue/Green
# Deployment (`withAWS(role: …)`). Least privilege: each statement names the resources
# of this service and environment; only the calls AWS cannot scope to a resource use "*".

data "aws_iam_policy_document" "deploy_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.jenkins_principal_arn]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${local.name}-deploy"
  description          = "Jenkins deploys ${local.name} with shipwatch"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust.json
  max_session_duration = 3600
}

locals {
  cluster_arn       = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:cluster/${var.cluster_name}"
  service_arn       = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:service/${var.cluster_name}/${var.ecs_service_name}"
  task_family_arn   = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:task-definition/${local.name}:*"
  codedeploy_app    = "arn:${local.partition}:codedeploy:${var.region}:${local.account_id}:application:${aws_codedeploy_app.app.name}"
  codedeploy_group  = "arn:${local.partition}:codedeploy:${var.region}:${local.account_id}:deploymentgroup:${aws_codedeploy_app.app.name}/${aws_codedeploy_deployment_group.app.deployment_group_name}"
  codedeploy_config = "arn:${local.partition}:codedeploy:${var.region}:${local.account_id}:deploymentconfig:*"
}

data "aws_iam_policy_document" "deploy" {
  # docker login: GetAuthorizationToken has no resource-level permissions.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPushAndResolve"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
      "ecr:PutImage",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
    ]
    resources = [aws_ecr_repository.app.arn]
  }

  # RegisterTaskDefinition and DescribeTaskDefinition have no resource-level
  # permissions; registration is limited to requests that tag the revision with this
  # service (the template carries the tag).
  statement {
    sid       = "EcsRegisterTaskDefinition"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/service"
      values   = [var.service]
    }
  }

  # A deploy that loses the race for the deployment group takes back the revision it
  # registered; like registration, deregistration has no resource-level permissions.
  statement {
    sid       = "EcsDeregisterTaskDefinition"
    actions   = ["ecs:DeregisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "EcsReadTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "EcsTagTaskDefinition"
    actions   = ["ecs:TagResource"]
    resources = [local.task_family_arn]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }

  statement {
    sid       = "EcsReadService"
    actions   = ["ecs:DescribeServices"]
    resources = [local.service_arn]
  }

  statement {
    sid       = "EcsReadTasks"
    actions   = ["ecs:ListTasks", "ecs:DescribeTasks"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  # The task definition names these roles; ECS needs them passed to it and to nothing else.
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [var.task_execution_role_arn, var.task_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid = "CodeDeployDeploy"
    actions = [
      "codedeploy:CreateDeployment",
      "codedeploy:GetDeployment",
      "codedeploy:StopDeployment",
      "codedeploy:GetDeploymentGroup",
      "codedeploy:ListDeployments",
      "codedeploy:GetDeploymentTarget",
      "codedeploy:ListDeploymentTargets",
    ]
    resources = [local.codedeploy_group]
  }

  statement {
    sid       = "CodeDeployRevision"
    actions   = ["codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision"]
    resources = [local.codedeploy_app]
  }

  statement {
    sid       = "CodeDeployConfig"
    actions   = ["codedeploy:GetDeploymentConfig"]
    resources = [local.codedeploy_config]
  }

  statement {
    sid       = "WatchAlarm"
    actions   = ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"]
    resources = [aws_cloudwatch_metric_alarm.http_5xx.arn]
  }

  # The rollback report reads load-balancer metrics per target group; metric reads have
  # no resource-level permissions.
  statement {
    sid       = "ReportMetrics"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]
    resources = ["*"]
  }

  # The metric dimensions of the blue and green target groups come from their
  # description (ListMetrics lists a new target group's metrics only minutes later);
  # ELBv2's Describe calls have no resource-level permissions either.
  statement {
    sid       = "DescribeTargetGroups"
    actions   = ["elasticloadbalancing:DescribeTargetGroups"]
    resources = ["*"]
  }

  statement {
    sid = "ReadServiceLogs"
    actions = [
      "logs:FilterLogEvents",
      "logs:GetLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "shipwatch-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}
