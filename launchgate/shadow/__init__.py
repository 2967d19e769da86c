"""Paired shadow evaluation: the candidate answers a sample of live traffic beside stable, unseen by users."""
