"""短信预警中心 (§4.5.4): templates, the outbox, providers, records and manual reminders."""
