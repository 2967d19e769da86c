"""Metrics sources beside the gateway's own stats: CloudWatch (SageMaker)."""
