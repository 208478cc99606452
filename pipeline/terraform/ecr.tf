# The repository `docker push` writes to and `shipwatch register` pins by digest.
# Tags are immutable: a git-SHA tag must always name the image that was scanned.

resource "aws_kms_key" "ecr" {
  description         = "${local.name} ECR images"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms_account_admin.json
}

resource "aws_ecr_repository" "app" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ecr.arn
  }
}

# Keep the last 200 release images (rollbacks and hotfix redeploys of older SHAs) and
# drop untagged layers after a week.
resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "expire untagged images after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "keep the newest 200 images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 200
        }
        action = { type = "expire" }
      }
    ]
  })
}

# Key policy: the account administers the key (IAM policies then grant use); CloudWatch
# Logs may use it for the service's log group.
data "aws_iam_policy_document" "kms_account_admin" {
  # In a key policy, Resource "*" means the key the policy is attached to, not every
  # resource, and "kms:*" for the account root is the AWS default that lets IAM
  # policies grant use of the key (without it the key can become unmanageable).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }
}
