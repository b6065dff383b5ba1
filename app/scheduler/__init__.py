"""The scheduler: timers, warnings, escalation and SMS dispatch as idempotent jobs."""
