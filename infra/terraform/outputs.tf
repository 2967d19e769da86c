output "artifacts_uri" {
  description = "Put this in release.yaml (artifacts.uri) or LAUNCHGATE_ARTIFACTS_URI."
  value       = "s3://${aws_s3_bucket.evidence.id}/${var.prefix}"
}

output "bucket_name" {
  value = aws_s3_bucket.evidence.id
}

output "bucket_arn" {
  value = aws_s3_bucket.evidence.arn
}

output "kms_key_arn" {
  description = "LAUNCHGATE_S3_KMS_KEY_ID (with LAUNCHGATE_S3_SSE=aws:kms)."
  value       = aws_kms_key.evidence.arn
}

output "kms_key_alias" {
  value = aws_kms_alias.evidence.name
}

output "worker_policy_arn" {
  description = "Attach to the worker's role (done for you when worker_role_name is set)."
  value       = aws_iam_policy.worker.arn
}

output "worker_env" {
  description = "Environment for the worker and its flow runs."
  value = {
    LAUNCHGATE_ARTIFACTS_URI  = "s3://${aws_s3_bucket.evidence.id}/${var.prefix}"
    LAUNCHGATE_S3_SSE         = "aws:kms"
    LAUNCHGATE_S3_KMS_KEY_ID  = aws_kms_key.evidence.arn
    AWS_REGION                = var.region
  }
}
