# Least privilege for the Prefect worker and the flow runs it starts: its own prefix of the
# evidence bucket, the KMS key of that bucket, and the calls the release router and the
# metrics source make. Nothing here can delete evidence or touch another prefix.

locals {
  account          = data.aws_caller_identity.current.account_id
  partition        = data.aws_partition.current.partition
  evidence_objects = "${aws_s3_bucket.evidence.arn}/${var.prefix}/*"
  sagemaker_endpoint_arns = [
    for name in var.sagemaker_endpoint_names :
    "arn:${local.partition}:sagemaker:${var.region}:${local.account}:endpoint/${lower(name)}"
  ]
}

data "aws_iam_policy_document" "worker" {
  # launchgate's S3Store: list (index.json, audits), head/get (verification, reads), put.
  statement {
    sid       = "ListEvidencePrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.evidence.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*", "${var.prefix}/"]
    }
  }
  statement {
    sid       = "ReadWriteEvidence"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.evidence_objects]
  }
  # SSE-KMS: PutObject needs GenerateDataKey, GetObject needs Decrypt, only through S3.
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
  # launchgate/router/sagemaker.py: read and shift production-variant weights.
  dynamic "statement" {
    for_each = length(local.sagemaker_endpoint_arns) > 0 ? [1] : []
    content {
      sid       = "ShiftSageMakerTraffic"
      actions   = ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"]
      resources = local.sagemaker_endpoint_arns
    }
  }
  # launchgate/metrics/cloudwatch.py: GetMetricData supports no resource-level permissions and
  # no namespace condition, so "*" is the narrowest form; it is read-only.
  statement {
    sid       = "ReadCanaryMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }
  # launchgate/reviews/costexplorer.py (monthly cost review), only when enabled.
  dynamic "statement" {
    for_each = var.allow_cost_explorer ? [1] : []
    content {
      sid       = "ReadCosts"
      actions   = ["ce:GetCostAndUsage"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_policy" "worker" {
  name        = "launchgate-worker-${var.bucket_name}"
  description = "launchgate worker: evidence prefix ${var.prefix}/ of ${var.bucket_name}, its KMS key, SageMaker traffic shifts"
  policy      = data.aws_iam_policy_document.worker.json
}

resource "aws_iam_role_policy_attachment" "worker" {
  count      = var.worker_role_name == "" ? 0 : 1
  role       = var.worker_role_name
  policy_arn = aws_iam_policy.worker.arn
}
