variable "region" {
  description = "AWS region of the bucket, the KMS key and the SageMaker endpoints."
  type        = string
}

variable "bucket_name" {
  description = "Name of the evidence bucket (globally unique)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots or hyphens."
  }
}

variable "prefix" {
  description = "Key prefix launchgate writes under (artifacts.uri = s3://<bucket>/<prefix>). The worker may touch nothing else."
  type        = string
  default     = "launchgate"
  validation {
    condition     = length(var.prefix) > 0 && !startswith(var.prefix, "/") && !endswith(var.prefix, "/")
    error_message = "prefix must be non-empty, without leading or trailing '/'."
  }
}

variable "retention_days" {
  description = "How long evidence and request logs are kept (the audit retention period). Current versions expire after this."
  type        = number
  default     = 400
  validation {
    condition     = var.retention_days >= 30
    error_message = "retention_days must be at least 30."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten (noncurrent) version is kept, e.g. older last_known_good.json states."
  type        = number
  default     = 90
}

variable "object_lock_enabled" {
  description = "Create the bucket with S3 Object Lock (WORM). Can only be chosen at bucket creation."
  type        = bool
  default     = false
}

variable "object_lock_mode" {
  description = "GOVERNANCE (privileged users may shorten it) or COMPLIANCE (nobody can, not even root)."
  type        = string
  default     = "GOVERNANCE"
  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "object_lock_days" {
  description = "Default retention of each object version under Object Lock; keep it <= retention_days."
  type        = number
  default     = 365
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after scheduling its deletion."
  type        = number
  default     = 30
}

variable "worker_role_name" {
  description = "Existing IAM role the Prefect worker (and its flow-run pods/processes) assume; empty = attach nothing."
  type        = string
  default     = ""
}

variable "sagemaker_endpoint_names" {
  description = "SageMaker endpoints whose production-variant weights the release router may change."
  type        = list(string)
  default     = []
}

variable "allow_cost_explorer" {
  description = "Let the monthly cost review call ce:GetCostAndUsage."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
