# Evidence bucket + worker IAM for launchgate. `terraform init && terraform plan` with a
# terraform.tfvars (see terraform.tfvars.example). State backend is left to the team.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = merge({ "app" = "launchgate", "managed-by" = "terraform" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
