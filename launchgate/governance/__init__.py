"""Who and what may let a release through: the release freeze, the go/no-go rubric, approvals, the
release review and the audit.
"""
