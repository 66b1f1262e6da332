"""The HTTP adapters: the chat socket, the server API, the demo, pages and assets, health,
and the connection limits and proxy rule below them."""
