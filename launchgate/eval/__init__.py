"""The contracts and eval gate steps: golden set, model client, runner, scorers, paired statistics,
verdicts, evidence.
"""
