"""Pure models: definitions, statuses and identities. No I/O lives here."""
