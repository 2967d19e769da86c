# The compacted request log as a table (docs/logs.md): a Glue table per service over
# <prefix>/<service>/logs/requests-parquet/date=YYYY-MM-DD/hour=HH/part-0.parquet, read by Athena
# (or Trino/Spark through the Glue catalog), and an Athena workgroup whose results stay encrypted
# under the prefix. Partition projection: new hours are queryable without MSCK REPAIR or a crawler.
#
# The columns mirror launchgate/requestlog/columns.py (SCHEMA); tests/unit/test_infra.py checks
# that they stay the same.

variable "glue_database" {
  description = "Glue database holding one request-log table per service (requests_<service>)."
  type        = string
  default     = "launchgate_logs"
}

variable "athena_workgroup" {
  description = "Athena workgroup for review.engine: athena and for people querying the log."
  type        = string
  default     = "launchgate-logs"
}

variable "athena_bytes_scanned_cutoff" {
  description = "A query scanning more than this many bytes is cancelled (cost guard)."
  type        = number
  default     = 10737418240 # 10 GiB
}

variable "log_projection_start" {
  description = "First date (yyyy-MM-dd) partition projection offers for the request-log tables."
  type        = string
  default     = "2026-01-01"
}

locals {
  request_log_columns = [
    { name = "ts", type = "timestamp" },
    { name = "request_id", type = "string" },
    { name = "service", type = "string" },
    { name = "release_id", type = "string" },
    { name = "variant", type = "string" },
    { name = "model", type = "string" },
    { name = "prompt_version", type = "string" },
    { name = "prompt_sha256", type = "string" },
    { name = "error_code", type = "string" },
    { name = "prompt_redacted", type = "string" },
    { name = "stable_release_id", type = "string" },
    { name = "latency_ms", type = "double" },
    { name = "ttft_ms", type = "double" },
    { name = "input_tokens", type = "double" },
    { name = "output_tokens", type = "double" },
    { name = "cost_usd", type = "double" },
    { name = "status", type = "bigint" },
    { name = "retries", type = "bigint" },
    { name = "schema_ok", type = "boolean" },
    { name = "refused", type = "boolean" },
    { name = "extra", type = "string" },
    { name = "source_key", type = "string" },
    { name = "source_line", type = "int" },
  ]
  request_log_locations = {
    for s in var.services : s => "s3://${aws_s3_bucket.evidence.id}/${var.prefix}/${s}/logs/requests-parquet"
  }
}

resource "aws_glue_catalog_database" "logs" {
  name        = var.glue_database
  description = "launchgate request logs (compacted Parquet, Hive-partitioned by date and hour)"
}

resource "aws_glue_catalog_table" "requests" {
  for_each      = local.request_log_locations
  database_name = aws_glue_catalog_database.logs.name
  name          = "requests_${replace(each.key, "-", "_")}"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "classification"                = "parquet"
    "parquet.compression"           = "ZSTD"
    "projection.enabled"            = "true"
    "projection.date.type"          = "date"
    "projection.date.format"        = "yyyy-MM-dd"
    "projection.date.range"         = "${var.log_projection_start},NOW"
    "projection.date.interval"      = "1"
    "projection.date.interval.unit" = "DAYS"
    "projection.hour.type"          = "integer"
    "projection.hour.range"         = "0,23"
    "projection.hour.digits"        = "2"
    "storage.location.template"     = "${each.value}/date=$${date}/hour=$${hour}/"
  }

  partition_keys {
    name = "date"
    type = "string"
  }
  partition_keys {
    name = "hour"
    type = "string"
  }

  storage_descriptor {
    location      = "${each.value}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    dynamic "columns" {
      for_each = local.request_log_columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "logs" {
  name          = var.athena_workgroup
  force_destroy = false
  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff
    result_configuration {
      output_location = "s3://${aws_s3_bucket.evidence.id}/${var.prefix}/athena-results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.evidence.arn
      }
    }
  }
}

output "athena_workgroup" {
  description = "review.athena.workgroup in release.yaml (review.engine: athena)."
  value       = aws_athena_workgroup.logs.name
}

output "glue_request_log_tables" {
  description = "service -> Glue database.table of its compacted request log (review.athena.table)."
  value       = { for s, t in aws_glue_catalog_table.requests : s => "${t.database_name}.${t.name}" }
}

# What review.engine: athena needs (attach to the role that runs the review flows): run queries in
# this workgroup only, read the Glue table, read the compacted log, write the workgroup's results.
data "aws_iam_policy_document" "athena_reviews" {
  statement {
    sid       = "QueryInTheLogWorkgroup"
    actions   = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"]
    resources = [aws_athena_workgroup.logs.arn]
  }
  statement {
    sid     = "ReadTheLogTables"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"]
    resources = concat(
      ["arn:${local.partition}:glue:${var.region}:${local.account}:catalog",
      "arn:${local.partition}:glue:${var.region}:${local.account}:database/${var.glue_database}"],
      [for t in aws_glue_catalog_table.requests : "arn:${local.partition}:glue:${var.region}:${local.account}:table/${var.glue_database}/${t.name}"],
    )
  }
  statement {
    sid       = "ListLogsAndResults"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.evidence.arn]
  }
  statement {
    sid       = "ReadCompactedLogs"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.evidence.arn}/${var.prefix}/*/logs/requests-parquet/*"]
  }
  statement {
    sid       = "WriteQueryResults"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.evidence.arn}/${var.prefix}/athena-results/*"]
  }
  statement {
    sid       = "UseTheEvidenceKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.evidence.arn]
  }
}

resource "aws_iam_policy" "athena_reviews" {
  name        = "launchgate-athena-reviews-${var.bucket_name}"
  description = "Run launchgate's review queries in Athena over the compacted request log"
  policy      = data.aws_iam_policy_document.athena_reviews.json
}
