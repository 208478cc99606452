# Values the pipeline and pipeline/shipwatch.toml refer to.

output "ecr_repository_url" {
  value = aws_ecr_repository.app.repository_url
}

output "deploy_role_arn" {
  description = "Role for withAWS(role: …) in the Jenkinsfile."
  value       = aws_iam_role.deploy.arn
}

output "codedeploy_application" {
  value = aws_codedeploy_app.app.name
}

output "codedeploy_deployment_group" {
  value = aws_codedeploy_deployment_group.app.deployment_group_name
}

output "alarm_5xx" {
  value = aws_cloudwatch_metric_alarm.http_5xx.alarm_name
}

output "log_group" {
  value = aws_cloudwatch_log_group.app.name
}
