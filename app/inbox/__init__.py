"""Inbox extras (issue 3 part C): tab counts incl. 抄送, saved filters, bulk actions."""
