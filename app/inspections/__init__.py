"""Inspection reports (检验报告): periodic, supervision and first inspections of registered devices."""
