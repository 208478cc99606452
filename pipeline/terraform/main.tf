# What the Jenkins pipeline expects to exist for one environment of the sample service:
# the ECR repository it pushes to, the CodeDeploy application and ECS blue/green
# deployment group `shipwatch deploy` drives, the 5xx alarm that stops a bad rollout,
# the service's log group (read by the rollback report) and the role Jenkins assumes.
# The ECS cluster, service, load balancer and task roles are owned by the service's own
# stack and are passed in as variables. `shipwatch gate iac` scans this directory.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      service     = var.service
      environment = var.environment
      managed-by  = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "${var.service}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}
