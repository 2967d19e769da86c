"""Daily budgets: the service's spend ledger in the store (gateway spend and the pipeline's own)."""
