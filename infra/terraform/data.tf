# Data lifecycle and access (docs/data.md): who may read logged data, who may delete it, and the
# bucket rules that expire request logs and queues no later than release.yaml's data.retention.
#
# Three separate permissions, never one role with all of them:
#   - the worker (iam.tf) writes evidence and logs, and can delete nothing;
#   - log readers (the role below) can list and read request logs, handoff and quality queues, and
#     nothing else: no write, no delete, no evidence bundles, no state;
#   - the retention deployment's policy may delete under the data prefixes only (attach it to the
#     role of the work pool that runs `retention`).

variable "services" {
  description = "Services under the prefix whose logs and queues get per-kind lifecycle rules."
  type        = list(string)
  default     = ["support-bot"]
}

variable "log_retention_days" {
  description = "Days request logs (JSONL and Parquet) are kept: data.retention.request_logs_days or less."
  type        = number
  default     = 30
}

variable "queue_retention_days" {
  description = "Days handoff and quality queues are kept: data.retention.queues_days or less."
  type        = number
  default     = 90
}

variable "log_reader_principal_arns" {
  description = "IAM principals (users, roles) that may assume the read-only log reader role; empty = no role."
  type        = list(string)
  default     = []
}

variable "retention_role_name" {
  description = "Existing role of the work pool that runs the retention deployment; empty = attach the policy yourself."
  type        = string
  default     = ""
}

locals {
  data_prefixes = flatten([
    for s in var.services : [
      { service = s, kind = "logs", prefix = "${var.prefix}/${s}/logs/", days = var.log_retention_days },
      { service = s, kind = "handoff", prefix = "${var.prefix}/${s}/handoff/", days = var.queue_retention_days },
      { service = s, kind = "quality", prefix = "${var.prefix}/${s}/quality/", days = var.queue_retention_days },
    ]
  ])
  log_reader_objects = [
    "${aws_s3_bucket.evidence.arn}/${var.prefix}/*/logs/*",
    "${aws_s3_bucket.evidence.arn}/${var.prefix}/*/handoff/*",
    "${aws_s3_bucket.evidence.arn}/${var.prefix}/*/quality/*",
  ]
}

data "aws_iam_policy_document" "log_reader" {
  statement {
    sid       = "ListLogPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.evidence.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*/logs/*", "${var.prefix}/*/handoff/*", "${var.prefix}/*/quality/*"]
    }
  }
  statement {
    sid       = "ReadLogs"
    actions   = ["s3:GetObject"]
    resources = local.log_reader_objects
  }
  statement {
    sid       = "DecryptThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.evidence.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "log_reader" {
  name        = "launchgate-log-reader-${var.bucket_name}"
  description = "Read-only: request logs and queues under ${var.prefix}/ of ${var.bucket_name}"
  policy      = data.aws_iam_policy_document.log_reader.json
}

data "aws_iam_policy_document" "log_reader_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = length(var.log_reader_principal_arns) > 0 ? var.log_reader_principal_arns : ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
}

resource "aws_iam_role" "log_reader" {
  count              = length(var.log_reader_principal_arns) > 0 ? 1 : 0
  name               = "launchgate-log-reader-${var.bucket_name}"
  assume_role_policy = data.aws_iam_policy_document.log_reader_trust.json
}

resource "aws_iam_role_policy_attachment" "log_reader" {
  count      = length(var.log_reader_principal_arns) > 0 ? 1 : 0
  role       = aws_iam_role.log_reader[0].name
  policy_arn = aws_iam_policy.log_reader.arn
}

data "aws_iam_policy_document" "retention" {
  statement {
    sid       = "ListData"
    actions   = ["s3:ListBucket", "s3:GetLifecycleConfiguration"]
    resources = [aws_s3_bucket.evidence.arn]
  }
  statement {
    sid       = "ReadAndExpireData"
    actions   = ["s3:GetObject", "s3:DeleteObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.evidence.arn}/${var.prefix}/*"]
  }
  statement {
    sid       = "UseEvidenceKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.evidence.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "retention" {
  name        = "launchgate-retention-${var.bucket_name}"
  description = "launchgate retention and subject deletion: expire and rewrite data under ${var.prefix}/ (object lock still applies)"
  policy      = data.aws_iam_policy_document.retention.json
}

resource "aws_iam_role_policy_attachment" "retention" {
  count      = var.retention_role_name == "" ? 0 : 1
  role       = var.retention_role_name
  policy_arn = aws_iam_policy.retention.arn
}

output "log_reader_role_arn" {
  description = "Assume this role to read request logs and queues (read-only); null when no principals are given."
  value       = length(var.log_reader_principal_arns) > 0 ? aws_iam_role.log_reader[0].arn : null
}

output "retention_policy_arn" {
  value = aws_iam_policy.retention.arn
}
