"""PII and secret redaction for text that leaves the request path."""
