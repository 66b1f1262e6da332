"""Live sessions: logins, the registry of open sessions, the bus that reaches them, the
inventory that lists them on every node, and login limits."""
