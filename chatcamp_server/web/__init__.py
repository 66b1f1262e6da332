"""The HTTP adapters: the chat socket, the server API, the demo, pages and assets, and the connection limits below them."""
