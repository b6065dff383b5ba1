"""Gas-cylinder traceability (§4.4): archive, makers' and fillers' services, use registration."""
