"""Reading the gateway's request log back for reviews, budget recovery and the audit."""
