"""chatcamp_pytest: fixtures and Playwright waits for testing a site that uses chatcamp-web.

    def test_chat_signs_in(page, my_site, chatcamp_server, chatcamp_user):
        page.goto(my_site.page_with(chatcamp_server.widget_script(user_id=chatcamp_user.id)))
        wait_for_widget_state(page, "connected")

The fixtures (``chatcamp_server``, ``chatcamp_user``, ``chatcamp_user_with_token``) come from
the plugin in ``chatcamp_pytest.plugin``, registered when the package is installed.
"""

from chatcamp_pytest.browser import (
    block_other_origins,
    wait_for_session_page_state,
    wait_for_widget_state,
)
from chatcamp_pytest.server import ChatCampServer, ChatCampUser, ServerStartError, new_user_id

__all__ = ["ChatCampServer", "ChatCampUser", "ServerStartError", "block_other_origins",
           "new_user_id", "wait_for_session_page_state", "wait_for_widget_state"]
