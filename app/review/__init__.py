"""退回 (return to an earlier step) with field review notes and the resubmission diff (issue 3)."""
