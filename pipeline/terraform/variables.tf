# Inputs: the environment and the resources owned by the service's own stack.

variable "region" {
  description = "AWS region of the service."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Environment name, as in pipeline/shipwatch.toml (staging or production)."
  type        = string
  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "service" {
  description = "Service name; also the ECR repository and container name."
  type        = string
  default     = "web"
}

variable "cluster_name" {
  description = "ECS cluster running the service."
  type        = string
}

variable "ecs_service_name" {
  description = "ECS service (deployment controller CODE_DEPLOY)."
  type        = string
}

variable "prod_listener_arn" {
  description = "ALB listener carrying production traffic."
  type        = string
}

variable "test_listener_arn" {
  description = "ALB listener carrying test traffic to the green task set."
  type        = string
}

variable "blue_target_group_name" {
  description = "Target group of the blue task set."
  type        = string
}

variable "green_target_group_name" {
  description = "Target group of the green task set."
  type        = string
}

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the ALB (app/name/id), the dimension of the 5xx alarm."
  type        = string
}

variable "task_execution_role_arn" {
  description = "Task execution role named in the task-definition template; the deploy role may pass it to ECS."
  type        = string
}

variable "task_role_arn" {
  description = "Task role named in the task-definition template; the deploy role may pass it to ECS."
  type        = string
}

variable "jenkins_principal_arn" {
  description = "IAM role of the Jenkins agents, the only principal allowed to assume the deploy role."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the service's log group (the rollback report reads recent logs; audits need a year)."
  type        = number
  default     = 365
}

variable "alarm_sns_topic_arn" {
  description = "Optional SNS topic notified when the 5xx alarm fires (empty: no notification)."
  type        = string
  default     = ""
}
