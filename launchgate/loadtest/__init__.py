"""The load-test step: plan and SLO verdicts (analysis), the aiperf engine runner, and its evidence."""
