"""Chat over an authenticated session: the session's protocol state, the table from request
type to handler, and the handlers (the account's requests, open channels)."""
