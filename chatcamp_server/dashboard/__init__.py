"""The operators' dashboard at ``/dashboard/``: apps, users, tokens, sessions and the live view.

``operators`` holds who may sign in and the audit log, ``cookies`` their signed-in sessions,
``pages`` the routes and what each page shows; ``templates/`` and ``static/`` are the HTML,
style and script the server sends, nothing from anywhere else.
"""
