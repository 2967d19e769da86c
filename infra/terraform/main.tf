# The evidence bucket: every release bundle, state file and request log launchgate writes.
# Evidence must outlive the people who approved it, so: versioned, encrypted with a
# customer-managed key, never public, expired only after the retention period, and
# optionally write-once (Object Lock).

resource "aws_kms_key" "evidence" {
  description             = "launchgate evidence bucket ${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
}

resource "aws_kms_alias" "evidence" {
  name          = "alias/launchgate-${var.bucket_name}"
  target_key_id = aws_kms_key.evidence.key_id
}

resource "aws_s3_bucket" "evidence" {
  bucket = var.bucket_name
  # Object Lock can only be switched on when the bucket is created.
  object_lock_enabled = var.object_lock_enabled
  # Evidence is never deleted by a `terraform destroy` that forgot it was there.
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.evidence.arn
    }
    # S3 Bucket Keys cut KMS request costs (one data key per bucket, not per object).
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "evidence" {
  bucket                  = aws_s3_bucket.evidence.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: access is IAM only
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  # Lifecycle rules on a versioned bucket need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.evidence]

  rule {
    id     = "retention"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/"
    }
    expiration {
      days = var.retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Request logs and queues expire sooner than evidence (data.tf; launchgate's retention deployment
  # checks these rules against release.yaml's data.retention and names a missing one).
  dynamic "rule" {
    for_each = { for d in local.data_prefixes : "${d.service}-${d.kind}" => d }
    content {
      id     = "data-${rule.key}"
      status = "Enabled"
      filter {
        prefix = rule.value.prefix
      }
      expiration {
        days = rule.value.days
      }
    }
  }
}

resource "aws_s3_bucket_object_lock_configuration" "evidence" {
  count  = var.object_lock_enabled ? 1 : 0
  bucket = aws_s3_bucket.evidence.id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_days
    }
  }
  lifecycle {
    precondition {
      condition     = var.object_lock_days <= var.retention_days
      error_message = "object_lock_days must not exceed retention_days: the lifecycle rule could never expire locked versions."
    }
  }
}

# Belt and braces on top of IAM: refuse plain HTTP and uploads that are not KMS-encrypted.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.evidence.arn,
      "${aws_s3_bucket.evidence.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "DenyUploadsWithoutKMS"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.evidence.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    # Only when a header is sent and names something else: uploads without the header get
    # the bucket default (aws:kms) and stay allowed.
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }
}

resource "aws_s3_bucket_policy" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  policy = data.aws_iam_policy_document.bucket.json
  # A bucket policy is refused while Block Public Access is being set up.
  depends_on = [aws_s3_bucket_public_access_block.evidence]
}
