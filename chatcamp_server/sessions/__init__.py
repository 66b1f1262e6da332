"""Live sessions: logins, the registry of open sessions, the bus that reaches them, login limits."""
